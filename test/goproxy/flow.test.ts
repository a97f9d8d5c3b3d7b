import t from 'tap';
import type { Test } from 'tap';
import { request } from 'undici';
import { makeModule, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import type { Gateway } from '../../src/main.js';
import { testdir } from '../helpers/testdir.js';

async function setup(t: Test): Promise<{ up: FakeUpstream; gw: Gateway }> {
  const up = await startFakeUpstream([
    await makeModule('example.com/hello', 'v1.0.0'),
    await makeModule('example.com/hello', 'v1.1.0'),
    await makeModule('github.com/BurntSushi/toml', 'v0.3.1'),
  ]);
  const gw = await startTestGateway(testdir(t), { upstream: up.url });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  return { up, gw };
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, text: body.toString('utf8') };
}

t.test('serves list, info, mod, zip and latest', async (t) => {
  const { gw, up } = await setup(t);
  const list = await get(`${gw.url}/example.com/hello/@v/list`);
  t.equal(list.status, 200);
  t.equal(list.text, 'v1.0.0\nv1.1.0\n');
  t.match(list.headers['content-type'], /^text\/plain/);
  const info = await get(`${gw.url}/example.com/hello/@v/v1.0.0.info`);
  t.equal(info.status, 200);
  t.equal(JSON.parse(info.text).Version, 'v1.0.0');
  t.equal(info.headers['content-type'], 'application/json');
  t.match(info.headers['cache-control'], /immutable/);
  t.match(info.headers.etag, /^"[0-9a-f]{64}"$/);
  const mod = await get(`${gw.url}/example.com/hello/@v/v1.0.0.mod`);
  t.equal(mod.text, 'module example.com/hello\n');
  const zip = await get(`${gw.url}/example.com/hello/@v/v1.0.0.zip`);
  t.equal(zip.status, 200);
  t.equal(zip.headers['content-type'], 'application/zip');
  t.same(zip.body, (await makeModule('example.com/hello', 'v1.0.0')).zip);
  t.match(String(zip.headers['x-modgate-h1']), /^h1:/);
  const latest = await get(`${gw.url}/example.com/hello/@latest`);
  t.equal(JSON.parse(latest.text).Version, 'v1.1.0');
  const before = up.count('v1.0.0.zip');
  const again = await get(`${gw.url}/example.com/hello/@v/v1.0.0.zip`);
  t.equal(again.headers['x-modgate-cache'], 'hit');
  t.equal(up.count('v1.0.0.zip'), before, 'a cached zip is never re-fetched');
});

t.test('upper-case paths are !-escaped both ways', async (t) => {
  const { gw, up } = await setup(t);
  const res = await get(`${gw.url}/github.com/!burnt!sushi/toml/@v/v0.3.1.mod`);
  t.equal(res.status, 200);
  t.equal(res.text, 'module github.com/BurntSushi/toml\n');
  t.equal(up.count('/github.com/!burnt!sushi/toml/@v/v0.3.1.mod'), 1);
  const bad = await get(`${gw.url}/github.com/BurntSushi/toml/@v/v0.3.1.mod`);
  t.equal(bad.status, 400, 'an unescaped upper-case path is malformed');
});

t.test('malformed requests get 400 with a plain-text reason', async (t) => {
  const { gw } = await setup(t);
  for (const p of [
    '/example.com/hello/@v/v1.0.zip',
    '/example.com/hello/@v/master.mod',
    '/example.com/hello/@v/v1.0.0.tar',
    '/..%2f/@v/list',
    '/example/@v/list',
    '/%ff/@v/list',
    `/${'a'.repeat(300)}.com/m/@v/list`,
  ]) {
    const res = await get(gw.url + p);
    t.equal(res.status, 400, p);
    t.match(res.headers['content-type'], /^text\/plain/, p);
    t.match(res.text, /REQUEST_INVALID/, p);
  }
});

t.test('404 and 410 from upstream pass through for fallback', async (t) => {
  const { gw, up } = await setup(t);
  t.equal((await get(`${gw.url}/example.com/missing/@v/v1.0.0.info`)).status, 404);
  up.misbehave('/example.com/gone/@v/list', { kind: 'status', status: 410 });
  t.equal((await get(`${gw.url}/example.com/gone/@v/list`)).status, 410);
});

t.test('Range and If-None-Match on zips', async (t) => {
  const { gw } = await setup(t);
  const full = await get(`${gw.url}/example.com/hello/@v/v1.0.0.zip`);
  const part = await get(`${gw.url}/example.com/hello/@v/v1.0.0.zip`, { range: 'bytes=0-9' });
  t.equal(part.status, 206);
  t.same(part.body, full.body.subarray(0, 10));
  t.equal(part.headers['content-range'], `bytes 0-9/${full.body.length}`);
  const nm = await get(`${gw.url}/example.com/hello/@v/v1.0.0.zip`, {
    'if-none-match': String(full.headers.etag),
  });
  t.equal(nm.status, 304);
  const bad = await get(`${gw.url}/example.com/hello/@v/v1.0.0.zip`, {
    range: `bytes=${full.body.length + 5}-`,
  });
  t.equal(bad.status, 416);
});

t.test('query .info (branch) is forwarded and not cached as immutable', async (t) => {
  const { gw, up } = await setup(t);
  up.add({
    ...(await makeModule('example.com/hello', 'v1.1.0')),
    version: 'master',
    info: '{"Version":"v1.1.0","Time":"2024-01-02T03:04:05Z"}',
  });
  const res = await get(`${gw.url}/example.com/hello/@v/master.info`);
  t.equal(res.status, 200);
  t.equal(JSON.parse(res.text).Version, 'v1.1.0');
  t.notMatch(String(res.headers['cache-control']), /immutable/);
});

t.test(
  'with the checksum database off, /sumdb/ answers 404 so clients go to it directly',
  async (t) => {
    const { gw } = await setup(t);
    const res = await get(`${gw.url}/sumdb/sum.golang.org/supported`);
    t.equal(res.status, 404);
    t.match(res.text, /NOT_FOUND: modgate proxies no checksum database/);
  },
);
