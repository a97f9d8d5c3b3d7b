/**
 * modgate under test, three processes over the bench's fake upstream: HTTP
 * with the audit trail on, HTTP with it off, and HTTPS with it on. Each is
 * warmed with one GET per artifact (a cold fetch, verified and recorded), so
 * that every measured request is a cached hit, its bytes checked against
 * their evidence as on every hit.
 */
import { Agent, request } from 'undici';
import type { BenchEnv } from '../setup.js';
import { why, type Launched } from './common.js';

/**
 * BENCH_MODGATE_WORKERS=N sets server.workers (the multi-process mode; 0 =
 * one per core). Unset, modgate runs with its own default.
 */
function workerEnv(): Record<string, string> {
  const n = process.env.BENCH_MODGATE_WORKERS;
  return n === undefined ? {} : { MODGATE_SERVER__WORKERS: n };
}

async function warm(url: string, paths: string[]): Promise<void> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    for (const p of paths) {
      const r = await request(`${url}/${p}`, { dispatcher });
      await r.body.dump();
      if (r.statusCode !== 200) throw new Error(`warming ${p}: status ${r.statusCode}`);
    }
  } finally {
    await dispatcher.close();
  }
}

async function one(
  env: BenchEnv,
  name: string,
  paths: string[],
  extraEnv: Record<string, string>,
  args: string[],
): Promise<Launched> {
  try {
    const gw = await env.gateway(name, { ...workerEnv(), ...extraEnv }, args);
    await warm(gw.url, paths);
    const ep = { url: gw.url, pid: gw.proc.pid! };
    const tls = gw.url.startsWith('https:');
    return {
      ...(tls ? { https: ep } : { http: ep }),
      about: `${name}, server.workers ${process.env.BENCH_MODGATE_WORKERS ?? 'default'}`,
      // benchEnv.close() stops every gateway it started.
      stop: async () => undefined,
    };
  } catch (err) {
    return { missing: `did not start: ${why(err)}` };
  }
}

export interface Modgates {
  /** HTTP and HTTPS endpoints, audit trail on. */
  on: Launched;
  /** HTTP, audit trail off. */
  off: Launched;
}

export async function startModgates(env: BenchEnv, paths: string[]): Promise<Modgates> {
  const http = await one(env, 'modgate-http', paths, {}, ['--insecure-http']);
  const https = await one(env, 'modgate-https', paths, {}, []);
  const off = await one(env, 'modgate-noaudit', paths, { MODGATE_AUDIT__ENABLED: 'false' }, [
    '--insecure-http',
  ]);
  const workers = process.env.BENCH_MODGATE_WORKERS ?? 'default';
  if ('missing' in http) return { on: http, off };
  const tlsNote = 'missing' in https ? `; HTTPS gateway ${https.missing}` : '';
  const on: Launched = {
    http: http.http,
    ...('missing' in https ? {} : { https: https.https }),
    about: `this checkout, server.workers ${workers}, cached-bytes check on${tlsNote}`,
    stop: async () => undefined,
  };
  return { on, off };
}
