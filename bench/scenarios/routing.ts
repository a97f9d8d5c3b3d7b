import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { request } from 'undici';
import { validateConfig } from '../../src/config/load.js';
import { createFakeSumdb } from '../../src/demo/sumdb.js';
import { makeModule, startFakeUpstream, sumdbRecords } from '../../src/demo/upstream.js';
import { startGateway, type Gateway } from '../../src/main.js';
import type { Result } from '../report.js';

const MODULE = 'example.com/routing';
const SLOW_MS = 250;

/** A mirror in front of the fake upstream; `slow` holds every answer SLOW_MS. */
async function mirror(target: string, slow: boolean) {
  const server = http.createServer((req, res) => {
    const go = (): void =>
      void request(`${target}${req.url ?? '/'}`).then(
        async (r) => {
          const body = Buffer.from(await r.body.arrayBuffer());
          res.writeHead(r.statusCode, { 'content-length': body.length }).end(body);
        },
        () => res.destroy(),
      );
    if (slow) setTimeout(go, SLOW_MS);
    else go();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function gateway(dir: string, upstream: string, sumdb: string, adaptive: boolean) {
  const config = validateConfig({
    listen: '127.0.0.1:0',
    dataDir: dir,
    tls: { insecureHttp: true },
    allowHttpUpstream: true,
    pinning: 'optional',
    sumdb,
    audit: { enabled: false },
    upstream,
    mirrors: { pipeGroups: adaptive ? 'equivalent' : 'ordered', probeIntervalMs: 1000 },
  });
  const gw = await startGateway(config, { logger: pino({ level: 'silent' }) });
  await gw.probed;
  return gw;
}

/** Cold .info fetches of distinct versions, `conns` at a time; the latencies in ms. */
async function drive(gw: Gateway, versions: string[], conns: number): Promise<number[]> {
  const out: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < versions.length) {
      const v = versions[next++]!;
      const t0 = performance.now();
      const res = await request(`${gw.url}/${MODULE}/@v/${v}.info`);
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${v}.info answered ${res.statusCode}`);
      out.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: conns }, worker));
  return out;
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

/**
 * Three mirrors of the same modules, the first one in the GOPROXY order slow
 * (every answer held 250 ms): p99 of cold fetches with the fixed order against
 * adaptive routing (`mirrors.pipeGroups: equivalent`), in the same run.
 */
export async function routingTail(count = 150): Promise<Result[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-bench-routing-'));
  const versions = Array.from({ length: count }, (_, i) => `v1.0.${i}`);
  const mods = await Promise.all(versions.map((v) => makeModule(MODULE, v)));
  const db = await createFakeSumdb({
    name: 'bench.sumdb.localhost',
    records: await sumdbRecords(mods, dir),
  });
  const up = await startFakeUpstream(mods, { sumdb: db });
  const ms = [await mirror(up.url, true), await mirror(up.url, false), await mirror(up.url, false)];
  const chain = ms.map((m) => m.url).join('|');
  const sumdb = `${db.verifierKey} ${up.url}/sumdb/bench.sumdb.localhost`;
  try {
    const fixed = await gateway(path.join(dir, 'fixed'), chain, sumdb, false);
    const fixedMs = await drive(fixed, versions, 4).finally(() => fixed.close());
    const adaptive = await gateway(path.join(dir, 'adaptive'), chain, sumdb, true);
    const adaptiveMs = await drive(adaptive, versions, 4).finally(() => adaptive.close());
    const [f, a] = [p99(fixedMs), p99(adaptiveMs)];
    return [
      {
        id: 'routing.fixed.p99',
        label: 'one slow mirror of 3: p99, fixed order',
        value: f,
        unit: 'ms',
      },
      {
        id: 'routing.adaptive.p99',
        label: 'one slow mirror of 3: p99, adaptive',
        value: a,
        unit: 'ms',
      },
      {
        id: 'routing.ratio',
        label: 'one slow mirror of 3: p99 adaptive / fixed',
        value: a / f,
        unit: 'x',
        target: 0.5,
        better: 'lower',
        note: `${count} cold .info fetches, 4 at a time; the slow mirror holds each answer ${SLOW_MS} ms`,
      },
    ];
  } finally {
    await Promise.all(ms.map((m) => m.close()));
    await up.close();
    await rm(dir, { recursive: true, force: true });
  }
}
