import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeModule } from './fake-upstream.js';

/**
 * A GOPROXY on 127.0.0.1:0 that holds the answers to paths matching `hold`
 * until the test releases them, so that concurrency can be tested by events
 * rather than timing. With `bodyOnly`, a held answer's status, headers and all
 * but its last byte go at once, and the last byte waits for the release.
 */
export async function startHeldUpstream(
  modules: FakeModule[],
  hold: RegExp,
  o: { bodyOnly?: boolean } = {},
) {
  const files = new Map<string, Buffer>();
  for (const m of modules) {
    const base = `/${m.path}/@v/${m.version}`;
    files.set(`${base}.info`, Buffer.from(m.info));
    files.set(`${base}.mod`, Buffer.from(m.mod));
    files.set(`${base}.zip`, m.zip);
    const list = `/${m.path}/@v/list`;
    files.set(
      list,
      Buffer.concat([files.get(list) ?? Buffer.alloc(0), Buffer.from(`${m.version}\n`)]),
    );
  }
  const hits = new Map<string, number>();
  const held: Array<{ path: string; send: () => void }> = [];
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(p, (hits.get(p) ?? 0) + 1);
    const body = files.get(p);
    const send = () =>
      body
        ? res.writeHead(200, { 'content-length': body.length }).end(body)
        : res.writeHead(404).end('not found\n');
    if (!hold.test(p)) return send();
    if (o.bodyOnly && body) {
      res.writeHead(200, { 'content-length': body.length }).write(body.subarray(0, -1));
      held.push({ path: p, send: () => res.end(body.subarray(-1)) });
    } else held.push({ path: p, send });
    waiters.splice(0).forEach((w) => w());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: (p: string) => hits.get(p) ?? 0,
    /** Resolves once `n` answers are held. */
    async held(n: number): Promise<void> {
      while (held.length < n) await new Promise<void>((r) => waiters.push(r));
    },
    /** Sends the held answer for a path. */
    release(p: string): void {
      const i = held.findIndex((h) => h.path === p);
      if (i < 0) throw new Error(`no held answer for ${p}`);
      held.splice(i, 1)[0]!.send();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const h of held.splice(0)) h.send();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
