import t from 'tap';
import { request } from 'undici';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { hashToken } from '../../src/auth/tokens.js';
import { testdir } from '../helpers/testdir.js';

t.test('health, readiness, metrics, request ids and HEAD', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  const gw = await startTestGateway(testdir(t), { upstream: up.url });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  const health = await request(`${gw.url}/healthz`);
  t.equal(health.statusCode, 200);
  t.equal(await health.body.text(), 'ok\n');
  t.match(health.headers['x-request-id'], /\S+/);
  const zip = await request(`${gw.url}/example.com/m/@v/v1.0.0.zip`, {
    headers: { 'x-request-id': 'build-42' },
  });
  // The request id is modgate's own, never the client's (which is kept in its own audit field).
  t.match(zip.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  t.not(zip.headers['x-request-id'], 'build-42');
  await zip.body.dump();
  const head = await request(`${gw.url}/example.com/m/@v/v1.0.0.zip`, { method: 'HEAD' });
  t.equal(head.statusCode, 200);
  t.equal(head.headers['content-type'], 'application/zip');
  await head.body.dump();
  const ready = await request(`${gw.url}/readyz`);
  t.equal(ready.statusCode, 200);
  t.match(await ready.body.json(), {
    ok: true,
    checks: { storage: 'ok', audit: 'ok', upstream: 'ok' },
  });
  // The zip's fact prefetch may still be filling the cache: the gauge is read once it is done.
  await gw.settled();
  const metrics = await (await request(`${gw.url}/metrics`)).body.text();
  t.match(metrics, /modgate_requests_total\{kind="zip",status="200",code="none"\} [1-9]/);
  t.match(metrics, /modgate_cache_total\{kind="zip",result="miss"\} 1/);
  t.match(metrics, /modgate_upstream_seconds_bucket/);
  t.match(metrics, /modgate_inflight_fetches 0/);
  t.match(metrics, /modgate_bytes_served_total\{kind="zip"\} [1-9]/);
});

t.test(
  'with auth required, metrics, readiness and modules need a token (401 with WWW-Authenticate); liveness stays open',
  async (t) => {
    const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
    const token = 'mgt_server-test-token-abcdefghijklmnopqrstuvwxyz012345';
    const gw = await startTestGateway(testdir(t), {
      upstream: up.url,
      auth: {
        required: true,
        protectHealth: true,
        tokens: [{ id: 'ops', sha256: hashToken(token), groups: [] }],
      },
    });
    t.teardown(async () => {
      await gw.close();
      await up.close();
    });
    const live = await request(`${gw.url}/healthz`);
    t.equal(live.statusCode, 200, 'liveness needs no token');
    await live.body.dump();
    for (const p of ['/metrics', '/readyz', '/example.com/m/@v/list', '/sumdb/x/supported']) {
      const res = await request(gw.url + p);
      t.equal(res.statusCode, 401, p);
      t.match(res.headers['www-authenticate'], /Basic realm="modgate"/, p);
      await res.body.dump();
    }
    const ok = await request(`${gw.url}/metrics`, {
      headers: { authorization: `Bearer ${token}` },
    });
    t.equal(ok.statusCode, 200);
    await ok.body.dump();
    const basic = await request(`${gw.url}/example.com/m/@v/list`, {
      headers: { authorization: `Basic ${Buffer.from(`ops:${token}`).toString('base64')}` },
    });
    t.equal(basic.statusCode, 200);
    t.equal(await basic.body.text(), 'v1.0.0\n');
  },
);
