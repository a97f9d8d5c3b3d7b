import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { repoRoot } from '../helpers/testdata.js';
import { Metrics } from '../../src/observability/metrics.js';
import { testdir } from '../helpers/testdir.js';

async function defaultNames(): Promise<Set<string>> {
  const r = new Registry();
  collectDefaultMetrics({ register: r, prefix: 'modgate_' });
  return new Set((await r.getMetricsAsJSON()).map((m) => m.name));
}

t.test('docs/operations.md lists exactly the metrics /metrics exposes', async (t) => {
  const doc = await readFile(path.join(repoRoot, 'docs', 'operations.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `(modgate_[a-z_]+)` +\|/gm)].map((m) => m[1]!));
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  const gw = await startTestGateway(testdir(t), { upstream: up.url });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  await gw.app.inject({ url: '/example.com/m/@v/v1.0.0.zip' });
  const text = (await gw.app.inject({ url: '/metrics' })).body;
  const defaults = await defaultNames();
  const exposed = new Set(
    [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!).filter((n) => !defaults.has(n)),
  );
  t.ok(exposed.size >= 10);
  for (const n of exposed) t.ok(documented.has(n), `${n} is documented`);
  for (const n of documented) t.ok(exposed.has(n), `${n} is exposed`);
  for (const n of defaults)
    t.match(n, /^modgate_(process|nodejs)_/, `${n} has a documented prefix`);
});

t.test('every answer is counted by kind, status and code; cache, timings and gauges', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  const gw = await startTestGateway(testdir(t), { upstream: up.url });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  const asks = [
    '/example.com/m/@v/v1.0.0.zip',
    '/example.com/m/@v/v1.0.0.zip',
    '/example.com/m/@v/list',
    '/example.com/nope/@v/v1.0.0.mod',
    '/nope',
    '/sumdb/x/latest',
    '/readyz',
  ];
  for (const a of asks) await gw.app.inject({ url: a });
  gw.metrics.queueSource = () => 7;
  gw.metrics.inflightSource = () => 3;
  const text = (await gw.app.inject({ url: '/metrics' })).body;
  t.match(text, /modgate_requests_total\{kind="zip",status="200",code="none"\} 2/);
  t.match(text, /modgate_requests_total\{kind="list",status="200",code="none"\} 1/);
  t.match(text, /modgate_requests_total\{kind="mod",status="404",code="UPSTREAM_NOT_FOUND"\} 1/);
  t.match(text, /modgate_requests_total\{kind="unknown",status="400",code="REQUEST_INVALID"\} 1/);
  t.match(text, /modgate_requests_total\{kind="sumdb",status="404",code="NOT_FOUND"\} 1/);
  t.match(text, /modgate_requests_total\{kind="readyz",status="200",code="none"\} 1/);
  t.match(text, /modgate_cache_total\{kind="zip",result="miss"\} 1/);
  t.match(text, /modgate_cache_total\{kind="zip",result="hit"\} 1/);
  t.match(text, /modgate_request_seconds_count\{kind="zip"\} 2/);
  t.match(text, /modgate_fetch_queue_length 7/);
  t.match(text, /modgate_inflight_fetches 3/);
  t.match(text, /modgate_requests_in_flight 1/, 'the scrape itself is in flight');
});

t.test(
  'upstream labels never carry userinfo; observations reach the current request',
  async (t) => {
    const m = new Metrics();
    const sink = { upstreamMs: 0, verifyMs: 0 };
    m.timings = () => sink;
    m.observeUpstream('https://user:s3cret-pass@mirror.example/base', 200, 0.25);
    m.observeVerification('zip', 0.5);
    const text = await m.registry.metrics();
    t.notMatch(text, /s3cret-pass|user:/);
    t.match(text, /upstream="https:\/\/\[redacted\]@mirror\.example\/base"/);
    t.equal(sink.upstreamMs, 250);
    t.equal(sink.verifyMs, 500);
    t.match(text, /modgate_verification_seconds_count\{kind="zip"\} 1/);
  },
);

t.test('audit writes: concurrent decisions share group commits and fsyncs', async (t) => {
  const mods = await Promise.all(
    Array.from({ length: 12 }, (_, i) => makeModule(`example.com/m${i}`, 'v1.0.0')),
  );
  const up = await startFakeUpstream(mods);
  const gw = await startTestGateway(testdir(t), { upstream: up.url });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  const writes = async (): Promise<Record<string, number>> => {
    const text = (await gw.app.inject({ url: '/metrics' })).body;
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^modgate_audit_writes\{what="(\w+)"\} (\d+)/gm))
      out[m[1]!] = Number(m[2]);
    return out;
  };
  const before = await writes();
  t.ok(before.records! >= 1, 'the start record is counted');
  const answers = await Promise.all(
    mods.map((_, i) => gw.app.inject({ url: `/example.com/m${i}/@v/v1.0.0.mod` })),
  );
  t.same(
    answers.map((a) => a.statusCode),
    mods.map(() => 200),
  );
  const after = await writes();
  const records = after.records! - before.records!;
  t.ok(records >= mods.length, `${records} records for ${mods.length} decisions`);
  t.ok(after.fsyncs! - before.fsyncs! <= after.batches! - before.batches!, 'one fsync a commit');
  t.ok(after.batches! - before.batches! < records, 'records were grouped into fewer commits');
});
