import t from 'tap';
import path from 'node:path';
import { once } from 'node:events';
import { connect } from 'node:net';
import Fastify from 'fastify';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { hashToken } from '../../src/auth/tokens.js';
import { createIdentify } from '../../src/auth/authenticate.js';
import { readRecords } from '../../src/audit/query.js';
import type { AuditRecord } from '../../src/audit/records.js';
import { registerFrontDoor } from '../../src/http/auth-hook.js';
import { sendError } from '../../src/http/send-error.js';
import type { Identity } from '../../src/contracts.js';
import { testdir } from '../helpers/testdir.js';

const TOKEN = 'mgt_front-door-test-token-abcdefghijklmnopqrstuvwxyz';
const auth = { authorization: `Bearer ${TOKEN}` };
const tokens = [{ id: 'ci', sha256: hashToken(TOKEN), groups: ['ci'] }];

async function trail(dir: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const r of readRecords(path.join(dir, 'audit'))) out.push(r);
  return out;
}

t.test('every answer but liveness leaves exactly one record, under its own id', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  const dir = path.join(testdir(t), 'data');
  const gw = await startTestGateway(dir, { upstream: up.url, auth: { required: true, tokens } });
  t.teardown(() => up.close());
  const asks: Array<{ url: string; method?: 'GET' | 'POST'; headers?: Record<string, string> }> = [
    { url: '/healthz' },
    { url: '/metrics' },
    { url: '/readyz' },
    { url: '/example.com/m/@v/list' },
    { url: '/example.com/m/@v/v1.0.0.zip', headers: { authorization: 'Bearer wrong-token' } },
    { url: '/metrics', headers: auth },
    { url: '/readyz', headers: auth },
    { url: '/example.com/m/@v/list', headers: { ...auth, 'x-request-id': 'build-42' } },
    { url: '/example.com/m/@v/v1.0.0.info', headers: auth },
    { url: '/example.com/nope/@v/list', headers: auth },
    { url: '/not/a/module/path', headers: auth },
    { url: '/example.com/m/@v/v1.0.zip', headers: auth },
    { url: '/%zz/@v/list', headers: auth },
    { url: '/sumdb/sum.golang.org/supported', headers: auth },
    { url: '/example.com/m/@v/list', method: 'POST', headers: auth },
  ];
  const answers: Array<{ id: string; status: number; url: string }> = [];
  for (const a of asks) {
    const res = await gw.app.inject({ method: a.method ?? 'GET', url: a.url, headers: a.headers });
    answers.push({ id: String(res.headers['x-request-id']), status: res.statusCode, url: a.url });
  }
  t.same(
    answers.map((a) => a.status),
    [200, 401, 401, 401, 401, 200, 200, 200, 200, 404, 400, 400, 400, 404, 404],
  );
  t.equal(up.count('/@v/v1.0.0.zip'), 0, 'the refused zip never reached the upstream');
  await gw.close();
  const records = await trail(dir);
  const byId = new Map<string, AuditRecord[]>();
  for (const r of records) {
    const id = (r as { requestId?: string }).requestId;
    if (id && r.type !== 'completion') byId.set(id, [...(byId.get(id) ?? []), r]);
  }
  for (const a of answers) {
    const got = byId.get(a.id) ?? [];
    if (a.url === '/healthz') t.equal(got.length, 0, 'liveness is not recorded');
    else t.equal(got.length, 1, `${a.url} (${a.status}) has one record`);
  }
  const ofUrl = (i: number): AuditRecord => byId.get(answers[i]!.id)![0]!;
  t.match(ofUrl(1), { type: 'access', kind: 'metrics', status: 401, code: 'AUTH_REQUIRED' });
  t.match(ofUrl(4), {
    type: 'access',
    kind: 'zip',
    status: 401,
    code: 'AUTH_INVALID',
    client: { id: 'anonymous' },
  });
  t.match(ofUrl(5), { type: 'access', kind: 'metrics', status: 200, client: { id: 'ci' } });
  t.match(ofUrl(7), {
    type: 'decision',
    kind: 'list',
    requestId: answers[7]!.id,
    clientRequestId: 'build-42',
  });
  t.not(answers[7]!.id, 'build-42', "modgate's own id, never the client's");
  t.match(ofUrl(10), { type: 'access', status: 400, code: 'REQUEST_INVALID' });
  t.match(ofUrl(12), { type: 'access', status: 400, code: 'REQUEST_INVALID' });
  t.match(ofUrl(14), { type: 'access', status: 404, code: 'NOT_FOUND', method: 'POST' });
});

t.test('a bad-token flood is aggregated per client, code and second', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  const dir = path.join(testdir(t), 'data');
  const gw = await startTestGateway(dir, {
    upstream: up.url,
    auth: { required: true, tokens },
    audit: { accessBurst: 5 },
  });
  t.teardown(() => up.close());
  // The start-up probe has run (startTestGateway awaits it); the flood must add nothing.
  const before = [...up.hits.entries()];
  const N = 2000;
  const started = Date.now();
  const statuses = new Map<number, number>();
  for (let i = 0; i < N; i += 100) {
    const rs = await Promise.all(
      Array.from({ length: 100 }, (_, k) =>
        gw.app.inject({
          url: `/example.com/m/@v/v1.0.${i + k}.zip`,
          headers: { authorization: `Bearer flood-${i + k}` },
          remoteAddress: k % 2 ? '192.0.2.1' : '192.0.2.2',
        }),
      ),
    );
    for (const r of rs) statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
  }
  t.same([...statuses], [[401, N]], 'every flood request is refused with 401');
  const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
  t.same([...up.hits.entries()], before, 'nothing reached the upstream');
  const metrics = await (await gw.app.inject({ url: '/metrics', headers: auth })).body;
  await gw.close();
  const access = (await trail(dir)).filter(
    (r): r is Extract<AuditRecord, { type: 'access' }> =>
      r.type === 'access' && r.code === 'AUTH_INVALID',
  );
  const total = access.reduce((n, r) => n + r.count, 0);
  t.equal(total, N, 'the counts add up to every answer');
  t.ok(access.length <= 2 * seconds * 6, `${access.length} records for ${seconds}s`);
  // Bounded by time, not by the flood: at most (burst + 1) records per client and second.
  t.ok(access.length < N / 10, 'the trail stays small');
  t.ok(
    access.some((r) => r.count > 1 && r.window),
    'aggregated records carry their second',
  );
  for (const addr of ['192.0.2.1', '192.0.2.2'])
    t.equal(
      access.filter((r) => r.client.address === addr).reduce((n, r) => n + r.count, 0),
      N / 2,
      `per client: ${addr}`,
    );
  t.match(metrics, /modgate_requests_total\{kind="zip",status="401",code="AUTH_INVALID"\} 2000/);
  t.match(metrics, /modgate_audit_aggregated_total\{code="AUTH_INVALID"\} \d+/);
});

t.test('the hook authenticates once per request; routes read the context', async (t) => {
  let calls = 0;
  const identify = (req: { headers: Record<string, unknown> }): Identity => {
    calls++;
    if (req.headers.authorization !== 'Bearer ok') throw Object.assign(new Error('x'), {});
    return { id: 'u', method: 'bearer', groups: [] };
  };
  const app = Fastify();
  registerFrontDoor(app, {
    identify: createIdentify({ tokens, required: true }),
    deadlineMs: 60_000,
    protectHealth: false,
  });
  app.get('/healthz', async () => 'ok');
  app.get('/who', async (req) => req.modgate!.ctx.identity.id);
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
  const anon = await app.inject({ url: '/who' });
  t.equal(anon.statusCode, 401);
  t.match(anon.headers['www-authenticate'], /Bearer realm="modgate"/);
  t.equal((await app.inject({ url: '/who', headers: auth })).body, 'ci');

  const counted = Fastify();
  registerFrontDoor(counted, { identify, deadlineMs: 60_000, protectHealth: false });
  counted.get('/healthz', async () => 'ok');
  counted.get('/x', async (req) => req.modgate!.ctx.identity.id);
  await counted.inject({ url: '/healthz' });
  t.equal(calls, 0, 'liveness is not authenticated');
  await counted.inject({ url: '/x', headers: { authorization: 'Bearer ok' } });
  t.equal(calls, 1, 'one authentication per request');
  t.equal((await counted.inject({ url: '/x' })).statusCode, 500, 'a non-auth failure fails closed');
});

t.test(
  'protectHealth: metrics and readiness need an identity even without auth.required',
  async (t) => {
    const app = Fastify();
    registerFrontDoor(app, {
      identify: createIdentify({ tokens, required: false }),
      deadlineMs: 60_000,
      protectHealth: true,
    });
    for (const p of ['/metrics', '/readyz', '/example.com/m/@v/list']) app.get(p, async () => 'ok');
    t.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
    t.equal((await app.inject({ url: '/readyz' })).statusCode, 401);
    t.equal((await app.inject({ url: '/metrics', headers: auth })).statusCode, 200);
    t.equal((await app.inject({ url: '/example.com/m/@v/list' })).statusCode, 200, 'anonymous ok');
  },
);

t.test('the request signal aborts at the deadline and when the client goes', async (t) => {
  const app = Fastify();
  registerFrontDoor(app, {
    identify: createIdentify({ tokens: [], required: false }),
    deadlineMs: 150,
    protectHealth: false,
  });
  app.setErrorHandler((err, _req, reply) => sendError(reply, err));
  const reasons: string[] = [];
  app.get('/slow', async (req) => {
    const signal = req.modgate!.ctx.signal;
    await once(signal, 'abort');
    reasons.push((signal.reason as { code: string }).code);
    throw signal.reason;
  });
  const res = await app.inject({ url: '/slow' });
  t.equal(res.statusCode, 504);
  t.match(res.body, /^REQUEST_TIMEOUT: /);

  const gone = Fastify();
  registerFrontDoor(gone, {
    identify: createIdentify({ tokens: [], required: false }),
    deadlineMs: 60_000,
    protectHealth: false,
  });
  let aborted: (code: string) => void = () => undefined;
  const abortedP = new Promise<string>((r) => (aborted = r));
  let arrived: () => void = () => undefined;
  const arrivedP = new Promise<void>((r) => (arrived = r));
  gone.get('/hang', async (req) => {
    const signal = req.modgate!.ctx.signal;
    arrived();
    await once(signal, 'abort');
    aborted((signal.reason as { code: string }).code);
    return 'late';
  });
  await gone.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => gone.close());
  const port = (gone.server.address() as { port: number }).port;
  const sock = connect(port, '127.0.0.1');
  sock.write('GET /hang HTTP/1.1\r\nhost: x\r\n\r\n');
  await arrivedP;
  sock.destroy();
  t.equal(await abortedP, 'CLIENT_GONE');
  t.same(reasons, ['REQUEST_TIMEOUT']);
});

t.test('the hook puts a declared, known purpose on the context', async (t) => {
  const app = Fastify();
  registerFrontDoor(app, {
    identify: createIdentify({ tokens: [], required: false }),
    deadlineMs: 60_000,
    protectHealth: false,
  });
  app.get('/p', async (req) => req.modgate!.ctx.purpose ?? 'none');
  const ask = (v?: string) =>
    app.inject({ url: '/p', headers: v ? { 'x-modgate-purpose': v } : {} }).then((r) => r.body);
  t.equal(await ask('preflight'), 'preflight');
  t.equal(await ask('anything-else'), 'none');
  t.equal(await ask(), 'none');
});
