import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startFakeUpstream, type FakeModule, type FakeUpstream } from './fake-upstream.js';

/** What a mirror does to the requests whose path ends with a suffix ('' = every path). */
export interface Fault {
  /** Holds the answer's headers this long. */
  delayMs?: number;
  /** Holds the answer until release() (or until the client goes away). */
  stall?: boolean;
  /** Answers this status instead. */
  status?: number;
  /** Answers these bytes instead (a tampered artifact). */
  body?: Buffer;
}

export interface Mirror {
  url: string;
  up: FakeUpstream;
  /** Requests received by path suffix (the start-up probe's "/" included). */
  count(suffix: string): number;
  /** Requests that went away before their answer (a hedge that lost, for one). */
  abandoned: number;
  /** Stalled requests waiting now. */
  stalled: number;
  fault(suffix: string, f: Fault | null): void;
  release(): void;
  close(): Promise<void>;
}

/**
 * A GOPROXY mirror on 127.0.0.1:0 with fault injection: a fake upstream
 * behind a front that delays, stalls, fails or tampers with chosen answers.
 */
export async function startMirror(modules: FakeModule[]): Promise<Mirror> {
  const up = await startFakeUpstream(modules);
  const hits = new Map<string, number>();
  const faults = new Map<string, Fault>();
  const waiting = new Set<() => void>();
  const state = { abandoned: 0 };
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(p, (hits.get(p) ?? 0) + 1);
    const f = [...faults.entries()].find(([s]) => p.endsWith(s))?.[1] ?? {};
    let answered = false;
    res.on('close', () => {
      if (!answered) state.abandoned++;
    });
    const answer = async (): Promise<void> => {
      if (res.destroyed) return;
      answered = true;
      if (f.status) return void res.writeHead(f.status).end(`mirror says ${f.status}\n`);
      if (f.body) return void res.writeHead(200, { 'content-length': f.body.length }).end(f.body);
      const r = await request(`${up.url}${req.url ?? '/'}`);
      const body = Buffer.from(await r.body.arrayBuffer());
      res.writeHead(r.statusCode, { 'content-length': body.length }).end(body);
    };
    const go = (): void => void answer().catch(() => res.destroy());
    if (f.stall) {
      const send = (): void => {
        waiting.delete(send);
        go();
      };
      waiting.add(send);
      res.on('close', () => waiting.delete(send));
    } else if (f.delayMs) setTimeout(go, f.delayMs);
    else go();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    up,
    count: (suffix) =>
      [...hits.entries()].filter(([p]) => p.endsWith(suffix)).reduce((n, [, c]) => n + c, 0),
    get abandoned() {
      return state.abandoned;
    },
    get stalled() {
      return waiting.size;
    },
    fault: (suffix, f) => (f ? faults.set(suffix, f) : faults.delete(suffix)),
    release: () => [...waiting].forEach((send) => send()),
    close: async () => {
      [...waiting].forEach((send) => send());
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await up.close();
    },
  };
}

/** Waits, polling every 20 ms for at most `ms`, until `cond` holds; false if it never did. */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  ms = 20_000,
): Promise<boolean> {
  for (let i = 0; i < ms / 20; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}
