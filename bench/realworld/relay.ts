/**
 * The recording relay: a loopback GOPROXY that forwards each GET once to the
 * real upstream (checksum-database paths through the upstream's /sumdb/), saves
 * the answer, and serves every later request for the same path from what it
 * saved. So all clients recorded through it see one signed tree head, and the
 * replay holds exactly the tiles and lookups they asked for. Each answer is
 * appended to answers.jsonl as it is saved, so an interrupted recording resumes
 * where it stopped, with the same tree head.
 */
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { bodyFile, type Answer } from './store.js';

export interface Relay {
  url: string;
  answers: Map<string, Answer>;
  /** Requests answered by the upstream (not from the recording). */
  forwarded(): number;
  close(): Promise<void>;
}

// Statuses that are the upstream's answer about the path, not a passing failure.
const FINAL = new Set([200, 404, 410]);

export async function startRelay(dir: string, upstream: string): Promise<Relay> {
  await mkdir(path.join(dir, 'bodies'), { recursive: true });
  const journal = path.join(dir, 'answers.jsonl');
  const answers = new Map<string, Answer>();
  for (const line of (await readFile(journal, 'utf8').catch(() => '')).split('\n')) {
    if (!line) continue;
    const { urlPath, ...a } = JSON.parse(line) as Answer & { urlPath: string };
    answers.set(urlPath, a);
  }
  const inflight = new Map<string, Promise<Answer>>();
  let forwarded = 0;

  async function fetchOnce(urlPath: string): Promise<Answer> {
    forwarded++;
    const res = await request(upstream + urlPath, {
      headersTimeout: 120_000,
      bodyTimeout: 300_000,
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      if (!FINAL.has(res.statusCode)) throw new Error(`${urlPath}: ${res.statusCode} ${text}`);
      return { status: res.statusCode, size: 0 };
    }
    const file = bodyFile(dir, urlPath);
    await pipeline(res.body, createWriteStream(file));
    return { status: 200, size: (await stat(file)).size };
  }

  function answer(urlPath: string): Promise<Answer> {
    const known = answers.get(urlPath);
    if (known) return Promise.resolve(known);
    let p = inflight.get(urlPath);
    if (!p) {
      p = fetchOnce(urlPath).then(
        async (a) => {
          await appendFile(journal, `${JSON.stringify({ urlPath, ...a })}\n`);
          answers.set(urlPath, a);
          inflight.delete(urlPath);
          return a;
        },
        (err: unknown) => {
          inflight.delete(urlPath);
          throw err;
        },
      );
      inflight.set(urlPath, p);
    }
    return p;
  }

  async function serve(urlPath: string, res: http.ServerResponse): Promise<void> {
    const a = await answer(urlPath);
    if (a.status !== 200) return void res.writeHead(a.status).end('not found\n');
    const body = await readFile(bodyFile(dir, urlPath));
    res.writeHead(200, { 'content-length': body.length }).end(body);
  }

  const server = http.createServer((req, res) => {
    const urlPath = new URL(req.url ?? '/', 'http://relay').pathname;
    serve(urlPath, res).catch((err: Error) => {
      process.stderr.write(`relay: ${urlPath}: ${err.message}\n`);
      if (!res.headersSent) res.writeHead(502).end(`${err.message}\n`);
      else res.destroy();
    });
  });
  // Longer than any client's idle keep-alive, so a client never reuses a socket the relay is closing.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answers,
    forwarded: () => forwarded,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
