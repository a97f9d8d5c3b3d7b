import { spawn } from 'node:child_process';
import path from 'node:path';
import autocannon from 'autocannon';
import { Agent, request } from 'undici';
import { root } from '../lib.js';
import { benchEnv } from '../setup.js';
import type { Result } from '../report.js';

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

export async function load(url: string, connections: number, seconds: number): Promise<Load> {
  const r = await autocannon({ url, connections, duration: seconds, pipelining: 1 });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
  };
}

async function startStatic(
  dir: string,
  certFile: string,
  keyFile: string,
  port: number,
): Promise<() => void> {
  const proc = spawn(
    process.execPath,
    [
      path.join(root, 'dist-bench', 'bench', 'static-server.js'),
      dir,
      String(port),
      certFile,
      keyFile,
    ],
    { stdio: 'ignore' },
  );
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  for (let i = 0; i < 100; i++) {
    if (
      await request(`https://127.0.0.1:${port}/healthz`, { dispatcher }).then(
        (r) => (r.body.dump(), true),
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await dispatcher.close();
  return () => proc.kill('SIGTERM');
}

/** Cached hits for .info, .mod and a 1 MiB .zip at 50 and 500 connections, against a static-file baseline; audit cost. */
export async function cachedHits(seconds = 4): Promise<Result[]> {
  const env = await benchEnv(1, 1 << 20);
  const results: Result[] = [];
  try {
    const gw = await env.gateway('gw');
    const noAudit = await env.gateway('gw-noaudit', { MODGATE_AUDIT__ENABLED: 'false' });
    const paths = [
      'example.com/bench0/@v/v1.0.0.info',
      'example.com/bench0/@v/v1.0.0.mod',
      'example.com/bench0/@v/v1.0.0.zip',
    ];
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
    for (const g of [gw, noAudit])
      for (const p of paths) await (await request(`${g.url}/${p}`, { dispatcher })).body.dump();
    await dispatcher.close();
    const port = Number(new URL(gw.url).port) + 1;
    const stop = await startStatic(
      path.join(env.dir, 'gw', 'store', 'cache'),
      env.certFile,
      env.keyFile,
      port,
    );
    try {
      for (const p of paths) {
        const kind = path.extname(p).slice(1);
        for (const c of [50, 500]) {
          const g = await load(`${gw.url}/${p}`, c, seconds);
          const b = await load(`https://127.0.0.1:${port}/${p}`, c, seconds);
          results.push({
            id: `hits.${kind}.${c}`,
            label: `cached .${kind} at ${c} conns: gateway/baseline req/s`,
            value: g.rps / b.rps,
            unit: 'x',
            target: 0.8,
            better: 'higher',
            note: `gw ${g.rps.toFixed(0)} req/s p50 ${g.p50} ms p99 ${g.p99} ms (${g.errors} errors); static ${b.rps.toFixed(0)} req/s p99 ${b.p99} ms`,
          });
        }
      }
      const on = await load(`${gw.url}/${paths[1]}`, 50, seconds);
      const off = await load(`${noAudit.url}/${paths[1]}`, 50, seconds);
      results.push({
        id: 'audit.cost',
        label: 'audit overhead on cached .mod hits (1 - on/off)',
        value: 1 - on.rps / off.rps,
        unit: 'x',
        target: 0.15,
        better: 'lower',
        note: `on ${on.rps.toFixed(0)} req/s, off ${off.rps.toFixed(0)} req/s`,
      });
    } finally {
      stop();
    }
  } finally {
    await env.close();
  }
  return results;
}
