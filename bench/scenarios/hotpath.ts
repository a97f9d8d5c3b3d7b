/**
 * The cached-hit hot path, measured in one gateway process per setting:
 * req/s and CPU per hit (the gateway's own utime + stime from /proc) for
 * .info, .mod and a 1 MiB .zip over HTTP and HTTPS at 50 connections, the
 * audit trail's cost at 50 connections, and the p50 of one sequential client
 * with the audit trail on and off.
 */
import { treeCpuSeconds } from '../hits/proctree.js';
import autocannon from 'autocannon';
import { Agent, request } from 'undici';
import { spawnGateway, type Child } from '../lib.js';
import { benchEnv, type BenchEnv } from '../setup.js';
import type { Result } from '../report.js';

const PATHS = {
  info: 'example.com/bench0/@v/v1.0.0.info',
  mod: 'example.com/bench0/@v/v1.0.0.mod',
  zip: 'example.com/bench0/@v/v1.0.0.zip',
} as const;

interface Run {
  rps: number;
  p50: number;
  mean: number;
  errors: number;
  cpuUsPerReq: number;
}

/** CPU of the gateway and its workers, in 1/100 s. */
function cpuTicks(pid: number): number {
  return Math.round(treeCpuSeconds(pid) * 100);
}

async function run(gw: Child, p: string, connections: number, seconds: number): Promise<Run> {
  const before = cpuTicks(gw.proc.pid!);
  const r = await autocannon({ url: `${gw.url}/${p}`, connections, duration: seconds });
  const ticks = cpuTicks(gw.proc.pid!) - before;
  const total = r.requests.total || 1;
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    mean: r.latency.mean,
    errors: r.errors + r.non2xx + r.timeouts,
    // Linux counts CPU time in 1/100 s.
    cpuUsPerReq: (ticks * 10_000) / total,
  };
}

async function start(
  env: BenchEnv,
  name: string,
  tls: boolean,
  audit: boolean,
  checkout?: string,
): Promise<Child> {
  const gw = await spawnGateway(
    [
      '--allow-http-upstream',
      '--upstream',
      env.upstream.url,
      '--sumdb',
      env.sumdbKey,
      '--data',
      `${env.dir}/${name}`,
      ...(tls ? ['--tls-cert', env.certFile, '--tls-key', env.keyFile] : ['--insecure-http']),
    ],
    {
      MODGATE_PINNING: 'optional',
      MODGATE_LOG__LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
      ...(audit ? {} : { MODGATE_AUDIT__ENABLED: 'false' }),
    },
    checkout,
  );
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  for (const p of Object.values(PATHS))
    await (await request(`${gw.url}/${p}`, { dispatcher })).body.dump();
  await dispatcher.close();
  return gw;
}

function note(r: Run): string {
  return `${r.rps.toFixed(0)} req/s, ${r.cpuUsPerReq.toFixed(0)} µs CPU/req, p50 ${r.p50} ms, mean ${r.mean.toFixed(3)} ms, ${r.errors} errors`;
}

/**
 * BENCH_BASELINE=DIR (a built modgate checkout) measures it too, in the same
 * run, each figure right after this checkout's: "after / before" ratios.
 */
export async function hotPath(seconds = Number(process.env.BENCH_SECONDS ?? 4)): Promise<Result[]> {
  const env = await benchEnv(1, 1 << 20);
  const results: Result[] = [];
  const base = process.env.BENCH_BASELINE;
  try {
    const side = async (tag: string, checkout?: string) => ({
      http: await start(env, `${tag}-http`, false, true, checkout),
      https: await start(env, `${tag}-https`, true, true, checkout),
      off: await start(env, `${tag}-noaudit`, false, false, checkout),
    });
    const now = await side('now');
    const then = base ? await side('base', base) : undefined;
    const both = async (
      id: string,
      label: string,
      pick: (g: typeof now) => Child,
      p: string,
      c: number,
    ) => {
      const a = await run(pick(now), p, c, seconds);
      const b = then ? await run(pick(then), p, c, seconds) : undefined;
      results.push({
        id,
        label: `${label}: CPU per hit${b ? ' (after / before)' : ''}`,
        value: b ? a.cpuUsPerReq / b.cpuUsPerReq : a.cpuUsPerReq,
        unit: b ? 'x' : 'µs',
        note: `after ${note(a)}${b ? `; before ${note(b)}` : ''}`,
      });
      return { a, b };
    };
    for (const kind of ['info', 'mod', 'zip'] as const) {
      await both(
        `hotpath.${kind}.http`,
        `cached .${kind}, HTTP, 50 conns`,
        (g) => g.http,
        PATHS[kind],
        50,
      );
      await both(
        `hotpath.${kind}.https`,
        `cached .${kind}, HTTPS, 50 conns`,
        (g) => g.https,
        PATHS[kind],
        50,
      );
    }
    const off50 = await both(
      'hotpath.noaudit.mod',
      'cached .mod, HTTP, audit off, 50 conns',
      (g) => g.off,
      PATHS.mod,
      50,
    );
    const on50 = results.find((r) => r.id === 'hotpath.mod.http')!;
    results.push({
      id: 'hotpath.audit.cost',
      label: 'audit cost, cached .mod, HTTP, 50 conns (1 - on/off req/s), after',
      value: 1 - Number(/after (\d+) req/.exec(on50.note!)![1]) / off50.a.rps,
      unit: 'x',
      target: 0.15,
      better: 'lower',
    });
    await both(
      'hotpath.p50.on',
      'cached .info, HTTP, 1 conn, audit on',
      (g) => g.http,
      PATHS.info,
      1,
    );
    await both(
      'hotpath.p50.off',
      'cached .info, HTTP, 1 conn, audit off',
      (g) => g.off,
      PATHS.info,
      1,
    );
    await both(
      'hotpath.p50.zip',
      'cached .zip, HTTP, 1 conn, audit on',
      (g) => g.http,
      PATHS.zip,
      1,
    );
  } finally {
    await env.close();
  }
  return results;
}
