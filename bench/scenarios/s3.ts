import { Agent, request } from 'undici';
import { startVersitygw, type Versitygw } from '../../test/helpers/versitygw.js';
import { benchEnv, type BenchEnv } from '../setup.js';
import type { Result } from '../report.js';
import { load } from '../hits/load.js';

async function timedGet(url: string, dispatcher: Agent): Promise<number> {
  const t0 = performance.now();
  const res = await request(url, { dispatcher, headersTimeout: 300_000, bodyTimeout: 300_000 });
  for await (const _ of res.body) void _;
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
  return (performance.now() - t0) / 1000;
}

/**
 * The S3 store (on a local versitygw, behind the local disk cache) against
 * fs: cached-hit req/s for .mod and a 1 MiB .zip at 50 connections, and the
 * time of a cold 6 MiB zip fetch (a multipart upload of two parts on S3).
 */
export async function s3Store(seconds = 4): Promise<Result[]> {
  const s3 = await startVersitygw({ bucket: 'modgate-bench' });
  const results: Result[] = [];
  try {
    results.push(await coldZip(s3));
    results.push(...(await hits(s3, seconds)));
  } finally {
    await s3.close();
  }
  return results;
}

/** An fs gateway and an S3 gateway (its own prefix) over one bench environment. */
async function pair(env: BenchEnv, s3: Versitygw, prefix: string) {
  const fs = await env.gateway('gw-fs');
  const onS3 = await env.gateway('gw-s3', {
    MODGATE_STORAGE__KIND: 's3',
    MODGATE_STORAGE__S3__BUCKET: s3.bucket,
    MODGATE_STORAGE__S3__PREFIX: prefix,
    MODGATE_STORAGE__S3__ENDPOINT: s3.endpoint,
    MODGATE_STORAGE__S3__REGION: s3.region,
    MODGATE_STORAGE__S3__FORCE_PATH_STYLE: 'true',
    MODGATE_STORAGE__S3__PART_SIZE_BYTES: String(5 << 20),
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  return { fs, onS3 };
}

/** A cold 6 MiB zip (two multipart parts on S3) through each gateway. */
async function coldZip(s3: Versitygw): Promise<Result> {
  const env = await benchEnv(2, 6 << 20);
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const { fs, onS3 } = await pair(env, s3, 'cold/');
    const cold: Record<string, number> = {};
    for (const [name, g, m] of [
      ['fs', fs, 'bench0'],
      ['s3', onS3, 'bench1'],
    ] as const) {
      await (await request(`${g.url}/example.com/${m}/@v/v1.0.0.mod`, { dispatcher })).body.dump();
      cold[name] = await timedGet(`${g.url}/example.com/${m}/@v/v1.0.0.zip`, dispatcher);
    }
    return {
      id: 's3.cold.zip',
      label: 'cold 6 MiB zip fetch: S3/fs time',
      value: cold.s3! / cold.fs!,
      unit: 'x',
      better: 'lower',
      note: `fs ${(cold.fs! * 1000).toFixed(0)} ms, S3 ${(cold.s3! * 1000).toFixed(0)} ms`,
    };
  } finally {
    await dispatcher.close();
    await env.close();
  }
}

/** Cached .mod and 1 MiB .zip hits at 50 connections, as in the hits scenario. */
async function hits(s3: Versitygw, seconds: number): Promise<Result[]> {
  const env = await benchEnv(1, 1 << 20);
  const results: Result[] = [];
  try {
    const { fs, onS3 } = await pair(env, s3, 'hits/');
    const paths = ['example.com/bench0/@v/v1.0.0.mod', 'example.com/bench0/@v/v1.0.0.zip'];
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
    for (const g of [fs, onS3])
      for (const p of paths) await (await request(`${g.url}/${p}`, { dispatcher })).body.dump();
    await dispatcher.close();
    for (const p of paths) {
      const kind = p.split('.').at(-1)!;
      const a = await load(`${fs.url}/${p}`, 50, seconds, fs.proc.pid!);
      const b = await load(`${onS3.url}/${p}`, 50, seconds, onS3.proc.pid!);
      results.push({
        id: `s3.hits.${kind}`,
        label: `cached .${kind} at 50 conns: S3+disk cache/fs req/s`,
        value: a.rps > 0 ? b.rps / a.rps : 0,
        unit: 'x',
        target: 0.8,
        better: 'higher',
        note: `fs ${a.rps.toFixed(0)} req/s p99 ${a.p99} ms; S3 ${b.rps.toFixed(0)} req/s p99 ${b.p99} ms (${a.errors + b.errors} errors)`,
      });
    }
  } finally {
    await env.close();
  }
  return results;
}
