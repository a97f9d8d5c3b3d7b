/**
 * The replay server: answers GOPROXY and /sumdb/<name>/ requests from a
 * recorded replay over loopback, through a simulated network link.
 *
 * The link is global, not per connection: all connections share one
 * bandwidth (default 100 Mbit/s), as a team's access link does. A
 * per-connection throttle would let a client that opens more connections buy
 * more bandwidth, and the comparison would measure connection counts instead
 * of the gateway. Every request waits one round trip (default 20 ms) before
 * its answer starts, and the first request on a new connection one more (the
 * TCP handshake). Slow start and loss are not modelled.
 */
import { createReadStream } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { bodyFile, decodePath, type Manifest } from './store.js';

export interface LinkOptions {
  /** Bits per second shared by all connections; 0 = unthrottled. */
  bitsPerSecond: number;
  rttMs: number;
}

export function linkFromEnv(): LinkOptions {
  return {
    bitsPerSecond: Number(process.env.BENCH_REALWORLD_MBIT ?? 100) * 1e6,
    rttMs: Number(process.env.BENCH_REALWORLD_RTT_MS ?? 20),
  };
}

const CHUNK = 64 * 1024;
const MODULE_PATH = /\/@v\/|\/@latest$|^\/sumdb\//;
const sleep = (ms: number): Promise<void> =>
  ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();

/** One shared link: each chunk takes the next free slot of the link's time, first come first served. */
class Link {
  private free = 0;
  constructor(private readonly bytesPerMs: number) {}

  async send(bytes: number): Promise<void> {
    if (!this.bytesPerMs) return;
    const now = performance.now();
    this.free = Math.max(now, this.free) + bytes / this.bytesPerMs;
    await sleep(this.free - now);
  }
}

/** Resolves on 'drain', or on 'close' when the client went away, removing both listeners. */
function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

export interface Replay {
  url: string;
  /** Answers served, by path (a path asked twice counts twice). */
  hits: Map<string, number>;
  /** Module and checksum-database paths asked for that the recording does not hold (answered 404). */
  misses: Set<string>;
  bytesSent(): number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.info': 'application/json',
  '.mod': 'text/plain; charset=utf-8',
  '.zip': 'application/zip',
};

export async function startReplay(
  dir: string,
  manifest: Manifest,
  opts: LinkOptions,
): Promise<Replay> {
  const link = new Link(opts.bitsPerSecond / 8 / 1000);
  const hits = new Map<string, number>();
  const misses = new Set<string>();
  const fresh = new WeakSet<Socket>();
  let sent = 0;

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = new URL(req.url ?? '/', 'http://replay').pathname;
    const handshake = fresh.has(req.socket);
    fresh.delete(req.socket);
    await sleep(opts.rttMs * (handshake ? 2 : 1));
    // Recorded as the client spelled it ("!" or "%21"); the relay records decoded paths.
    const urlPath = Object.hasOwn(manifest.answers, raw) ? raw : (decodePath(raw) ?? raw);
    const a = Object.hasOwn(manifest.answers, urlPath) ? manifest.answers[urlPath] : undefined;
    // Only module and checksum-database paths can show a gap in the recording (not a probe of /).
    if (!a && MODULE_PATH.test(urlPath)) misses.add(urlPath);
    hits.set(urlPath, (hits.get(urlPath) ?? 0) + 1);
    if (!a || a.status !== 200) return void res.writeHead(a?.status ?? 404).end('not found\n');
    const ext = /\.[a-z]+$/.exec(urlPath)?.[0] ?? '';
    res.writeHead(200, {
      'content-length': a.size,
      'content-type': TYPES[ext] ?? 'text/plain; charset=utf-8',
    });
    for await (const chunk of createReadStream(bodyFile(dir, urlPath), { highWaterMark: CHUNK })) {
      if (res.destroyed) return;
      await link.send((chunk as Buffer).length);
      sent += (chunk as Buffer).length;
      if (!res.write(chunk)) await drained(res);
    }
    res.end();
  }

  const server = http.createServer((req, res) => {
    serve(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s: Socket) => fresh.add(s));
  // Longer than any client's idle keep-alive, so a client never reuses a socket the replay is closing.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 4096, r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    misses,
    bytesSent: () => sent,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
