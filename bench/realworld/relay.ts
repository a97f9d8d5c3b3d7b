/**
 * The recording relay: a loopback GOPROXY that forwards each GET once to the
 * real upstream (checksum-database paths through the upstream's /sumdb/), saves
 * the answer, and serves every later request for the same path from what it
 * saved, so the replay holds exactly the tiles and lookups clients asked for.
 *
 * The live database signs a new tree head every few seconds and every lookup
 * answer carries the newest, so lookups recorded minutes apart would carry
 * different heads, and which tiles a client needs would depend on the order it
 * looks modules up in. So the relay fetches the signed head (/latest) once and
 * records each lookup with its record and that head instead (a lookup answer
 * is "id, record, blank line, signed head"; the record's proof does not travel
 * with it). Every client then proves every record against one tree, and needs
 * the same tiles on every run. Each answer is
 * appended to answers.jsonl as it is saved, so an interrupted recording resumes
 * where it stopped, with the same tree head.
 */
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { bodyFile, decodePath, type Answer } from './store.js';

export interface Relay {
  url: string;
  answers: Map<string, Answer>;
  /** Requests answered by the upstream (not from the recording). */
  forwarded(): number;
  close(): Promise<void>;
}

const LOOKUP = /^\/sumdb\/([^/]+)\/lookup\//;

/** A lookup answer with its own signed head replaced by `head`; refuses a record the head does not cover. */
function withHead(urlPath: string, body: string, head: string): string {
  const nl = body.indexOf('\n');
  const end = body.indexOf('\n\n');
  const id = Number(body.slice(0, nl));
  const size = Number(head.split('\n')[1]);
  if (nl < 1 || end < nl || !Number.isSafeInteger(id) || !(id < size))
    throw new Error(
      `${urlPath}: record ${body.slice(0, nl)} is not in the recorded tree of ${size}`,
    );
  return body.slice(0, end + 2) + head;
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
    const lookup = LOOKUP.exec(urlPath);
    const head = lookup ? await signedHead(lookup[1]!) : '';
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
    if (lookup) await writeFile(file, withHead(urlPath, await res.body.text(), head));
    else await pipeline(res.body, createWriteStream(file));
    return { status: 200, size: (await stat(file)).size };
  }

  async function signedHead(sumdb: string): Promise<string> {
    const latest = `/sumdb/${sumdb}/latest`;
    if ((await answer(latest)).status !== 200) throw new Error(`${latest}: not found`);
    return readFile(bodyFile(dir, latest), 'utf8');
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
    // The go command sends "!" as is, undici as "%21": one recording serves both.
    const urlPath = decodePath(new URL(req.url ?? '/', 'http://relay').pathname);
    if (urlPath === null) return void res.writeHead(400).end('bad path\n');
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
