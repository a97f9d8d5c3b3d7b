import t from 'tap';
import type { Test } from 'tap';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { makeModule, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import type { Gateway } from '../../src/main.js';
import { testdir } from '../helpers/testdir.js';

async function setup(
  t: Test,
  raw: Record<string, unknown> = {},
): Promise<{ up: FakeUpstream; gw: Gateway; dir: string }> {
  const up = await startFakeUpstream([
    await makeModule('example.com/m', 'v1.0.0'),
    await makeModule('example.com/m', 'v1.1.0'),
  ]);
  const dir = testdir(t);
  const gw = await startTestGateway(dir, { upstream: up.url, ...raw });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  return { up, gw, dir };
}

async function get(url: string) {
  const res = await request(url);
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

async function cachedFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else out.push(path.join(d, e.name));
    }
  };
  await walk(path.join(dir, 'store', 'cache'));
  return out;
}

t.test('200 concurrent cold requests cause one upstream fetch', async (t) => {
  const { up, gw } = await setup(t);
  up.misbehave('v1.0.0.zip', { kind: 'drip', bytesPerTick: 64, tickMs: 1 });
  const results = await Promise.all(
    Array.from({ length: 200 }, () => get(`${gw.url}/example.com/m/@v/v1.0.0.zip`)),
  );
  t.ok(
    results.every((r) => r.status === 200),
    'all 200 served',
  );
  t.equal(up.count('/example.com/m/@v/v1.0.0.zip'), 1, 'one upstream fetch');
});

t.test('a misbehaving upstream never leaks a 500 and nothing bad is cached', async (t) => {
  const { up, gw, dir } = await setup(t);
  const cases: Array<[string, Parameters<FakeUpstream['misbehave']>[1]]> = [
    ['5xx', { kind: 'status', status: 503 }],
    ['reset', { kind: 'reset' }],
    ['truncated', { kind: 'truncate', at: 40 }],
    ['wrong length', { kind: 'wrong-length', delta: 50 }],
    ['garbage', { kind: 'replace', body: Buffer.from('not a zip at all') }],
  ];
  for (const [name, how] of cases) {
    up.misbehave('v1.0.0.zip', how);
    const res = await get(`${gw.url}/example.com/m/@v/v1.0.0.zip`);
    t.ok(res.status >= 502 && res.status <= 504, `${name}: ${res.status} ${res.text.trim()}`);
    t.match(res.headers['content-type'], /^text\/plain/, name);
    t.equal(
      (await cachedFiles(dir)).filter((f) => f.endsWith('v1.0.0.zip')).length,
      0,
      `${name}: nothing cached`,
    );
  }
  up.misbehave('v1.0.0.zip', null);
  const ok = await get(`${gw.url}/example.com/m/@v/v1.0.0.zip`);
  t.equal(ok.status, 200, 'recovers once the upstream behaves');
});

t.test('transient 5xx is retried', async (t) => {
  const { up, gw } = await setup(t);
  up.misbehave('v1.0.0.mod', { kind: 'status', status: 502, times: 1 });
  const res = await get(`${gw.url}/example.com/m/@v/v1.0.0.mod`);
  t.equal(res.status, 200);
  t.equal(up.count('v1.0.0.mod'), 2);
});

t.test('oversize bodies are cut off and never cached', async (t) => {
  const { up, gw, dir } = await setup(t, { limits: { modBytes: 64 } });
  up.misbehave('v1.1.0.mod', { kind: 'replace', body: Buffer.alloc(1000, 'a') });
  const res = await get(`${gw.url}/example.com/m/@v/v1.1.0.mod`);
  t.equal(res.status, 502);
  t.match(res.text, /UPSTREAM_TOO_LARGE/);
  t.equal((await cachedFiles(dir)).filter((f) => f.endsWith('.mod')).length, 0);
});

t.test('list is served stale with a warning when every upstream fails', async (t) => {
  const { up, gw } = await setup(t, { cache: { listTtlSeconds: 0 } });
  const fresh = await get(`${gw.url}/example.com/m/@v/list`);
  t.equal(fresh.status, 200);
  up.misbehave('', { kind: 'status', status: 503 });
  const stale = await get(`${gw.url}/example.com/m/@v/list`);
  t.equal(stale.status, 200);
  t.equal(stale.text, fresh.text);
  t.match(String(stale.headers.warning), /110/);
  t.equal(stale.headers['x-modgate-cache'], 'stale');
  const never = await get(`${gw.url}/example.com/other/@v/list`);
  t.equal(never.status, 502, 'nothing to serve stale: an error, not a 404');
});

t.test("chain semantics: ',' falls through only on 404/410, '|' on any error", async (t) => {
  const broken = await startFakeUpstream([]);
  broken.misbehave('', { kind: 'status', status: 500 });
  const good = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  const empty = await startFakeUpstream([]);
  t.teardown(async () => {
    await broken.close();
    await good.close();
    await empty.close();
  });
  const dir = testdir(t);
  const pipe = await startTestGateway(path.join(dir, 'a'), {
    upstream: `${broken.url}|${good.url}`,
  });
  const comma = await startTestGateway(path.join(dir, 'b'), {
    upstream: `${broken.url},${good.url}`,
  });
  const notFound = await startTestGateway(path.join(dir, 'c'), {
    upstream: `${empty.url},${good.url}`,
  });
  t.teardown(async () => {
    await pipe.close();
    await comma.close();
    await notFound.close();
  });
  t.equal(
    (await get(`${pipe.url}/example.com/m/@v/v1.0.0.mod`)).status,
    200,
    "'|' falls through on 500",
  );
  t.equal((await get(`${comma.url}/example.com/m/@v/v1.0.0.mod`)).status, 502, "',' stops on 500");
  t.equal(
    (await get(`${notFound.url}/example.com/m/@v/v1.0.0.mod`)).status,
    200,
    "',' falls through on 404",
  );
});

t.test('private modules never reach public upstreams', async (t) => {
  const { up, gw } = await setup(t, { private: 'corp.example' });
  const res = await get(`${gw.url}/corp.example/secret/@v/list`);
  t.equal(res.status, 404);
  t.equal(up.count('/corp.example/secret/@v/list'), 0, 'the name never left');
});
