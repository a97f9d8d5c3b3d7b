import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { UpstreamClient, getFromChain, type UpstreamOptions } from '../../src/upstream/client.js';
import { credentialMatcher } from '../../src/upstream/credentials.js';
import {
  isPrivateAddress,
  redirectRules,
  type AddressPolicy,
} from '../../src/upstream/redirects.js';
import { buildUpstreamUrl } from '../../src/upstream/url.js';
import { createPinnedDispatcher } from '../../src/upstream/pinned-agent.js';

interface Seen {
  path: string;
  auth: string | undefined;
}

interface Server {
  url: string;
  seen: Seen[];
  /** Resolves when a request's socket closes before its answer finished. */
  aborted: Promise<void>;
}

async function server(
  t: Test,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  host = '127.0.0.1',
): Promise<Server> {
  const seen: Seen[] = [];
  let markAborted!: () => void;
  const aborted = new Promise<void>((r) => (markAborted = r));
  const s = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', auth: req.headers.authorization });
    res.once('close', () => {
      if (!res.writableFinished) markAborted();
    });
    handler(req, res);
  });
  await new Promise<void>((r) => s.listen(0, host, r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  );
  return { url: `http://${host}:${(s.address() as AddressInfo).port}`, seen, aborted };
}

function client(t: Test, extra: Partial<UpstreamOptions> = {}): UpstreamClient {
  const dispatcher = new Agent();
  const c = new UpstreamClient({
    dispatcher,
    headersTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
    retries: 0,
    retryBaseMs: 1,
    ...extra,
  });
  t.teardown(async () => {
    await c.close();
    await dispatcher.close();
  });
  return c;
}

const ok = (_req: http.IncomingMessage, res: http.ServerResponse): void =>
  void res.writeHead(200).end('v1.0.0\n');

t.test('URLs are built from parts and must stay under the upstream', async (t) => {
  t.equal(
    buildUpstreamUrl('https://proxy.example/base', '/m/@v/list').toString(),
    'https://proxy.example/base/m/@v/list',
  );
  for (const path of [
    '/m/@v/..',
    '/m/../../x',
    '/m/@v/a%2fb.info',
    '/m/@v/a?x=1.info',
    '/m/@v/a#frag.info',
    '/m\\..\\x/@v/list',
    '/m/@v/a\u0000.info',
    '/m/@v/a\r\nHost: evil.info',
    '/m//@v/list',
    'm/@v/list',
  ])
    t.throws(() => buildUpstreamUrl('https://proxy.example/base', path), {
      code: 'REQUEST_INVALID',
    });
});

t.test('credentials attach by exact origin and a path prefix at a segment boundary', async (t) => {
  const match = credentialMatcher({
    'https://host.example': { type: 'bearer', token: 'root' },
    'https://host.example/base': { type: 'bearer', token: 'base' },
  });
  const at = (u: string): string | undefined => match(new URL(u));
  t.equal(at('https://host.example/m/@v/list'), 'Bearer root');
  t.equal(at('https://host.example/base/m/@v/list'), 'Bearer base');
  t.equal(at('https://host.example/base'), 'Bearer base');
  t.equal(at('https://host.example/base2/m/@v/list'), 'Bearer root', '/base2 is not under /base');
  t.equal(at('https://host.example.evil/m/@v/list'), undefined, 'host suffix confusion');
  t.equal(at('https://host.example:8443/m'), undefined, 'another port is another origin');
  t.equal(at('http://host.example/m'), undefined, 'another scheme is another origin');
  t.equal(at('https://host.example:443/m'), 'Bearer root', 'the default port is the same origin');
  const only = credentialMatcher({ 'https://host.example/base': { type: 'bearer', token: 'b' } });
  t.equal(only(new URL('https://host.example/base2/x')), undefined);
  t.equal(only(new URL('https://host.example/x')), undefined);
  t.throws(() => credentialMatcher({ 'host.example': { type: 'bearer', token: 'x' } }), {
    code: 'CONFIG_INVALID',
  });
});

t.test(
  'prefix confusion through a real request: only the configured origin and path get the token',
  async (t) => {
    const a = await server(t, ok);
    const c = client(t, {
      credentials: credentialMatcher({ [`${a.url}/base`]: { type: 'bearer', token: 'secret' } }),
    });
    await (await c.get(`${a.url}/base`, '/m/@v/list')).body.dump();
    await (await c.get(`${a.url}/base2`, '/m/@v/list')).body.dump();
    t.same(
      a.seen.map((s) => [s.path, s.auth]),
      [
        ['/base/m/@v/list', 'Bearer secret'],
        ['/base2/m/@v/list', undefined],
      ],
    );
  },
);

t.test('redirects are refused unless followRedirects allows them', async (t) => {
  const target = await server(t, ok);
  const up = await server(t, (req, res) =>
    res.writeHead(302, { location: `${target.url}${req.url}` }).end(),
  );
  const creds = credentialMatcher({ [up.url]: { type: 'bearer', token: 'secret' } });
  const none = client(t, { credentials: creds });
  await t.rejects(none.get(up.url, '/m/@v/list'), {
    code: 'UPSTREAM_REDIRECT',
    message: /redirects are not followed/,
  });
  t.equal(target.seen.length, 0, 'the target was never asked');
  const sameOrigin = client(t, {
    credentials: creds,
    redirects: redirectRules({ [up.url]: 'same-origin' }),
  });
  await t.rejects(sameOrigin.get(up.url, '/m/@v/list'), {
    code: 'UPSTREAM_REDIRECT',
    message: /is not allowed by followRedirects/,
  });
  t.equal(target.seen.length, 0);
  const listed = client(t, {
    credentials: creds,
    redirects: redirectRules({ [up.url]: [target.url] }),
  });
  const res = await listed.get(up.url, '/m/@v/list');
  t.equal(await res.body.text(), 'v1.0.0\n');
  t.same(
    target.seen.map((s) => s.auth),
    [undefined],
    'credentials never cross an origin',
  );
  t.equal(up.seen.at(-1)?.auth, 'Bearer secret', 'the upstream itself got them');
});

t.test('a redirect loop ends with UPSTREAM_REDIRECT', async (t) => {
  let n = 0;
  const up = await server(t, (_req, res) => res.writeHead(302, { location: `/loop/${n++}` }).end());
  const c = client(t, { redirects: redirectRules({ [up.url]: 'same-origin' }) });
  await t.rejects(c.get(up.url, '/m/@v/list'), {
    code: 'UPSTREAM_REDIRECT',
    message: /more than 5 times/,
  });
  t.equal(up.seen.length, 6, 'bounded: the first request and 5 hops');
});

t.test('no redirect reaches a private address from a public upstream', async (t) => {
  const inner = await server(t, ok, '127.0.0.2');
  const up = await server(t, (req, res) =>
    res.writeHead(307, { location: `${inner.url}${req.url}` }).end(),
  );
  // Tests may only use loopback, so the configured upstream (127.0.0.1) is
  // treated as a public address here; every other address is classified as usual.
  const addresses: AddressPolicy = {
    resolve: async () => [],
    isPrivate: (a) => a !== '127.0.0.1' && isPrivateAddress(a),
  };
  const c = client(t, { addresses, redirects: redirectRules({ [up.url]: [inner.url] }) });
  await t.rejects(c.get(up.url, '/m/@v/list'), {
    code: 'UPSTREAM_REDIRECT',
    message: /loopback, link-local or private address/,
  });
  t.equal(inner.seen.length, 0, 'nothing reached 127.0.0.2');
  // A hostname is resolved and its addresses are checked too.
  const named = await server(t, (_req, res) =>
    res.writeHead(307, { location: `http://internal.example:1/x` }).end(),
  );
  const resolving: AddressPolicy = { ...addresses, resolve: async () => ['10.1.2.3'] };
  const c2 = client(t, {
    addresses: resolving,
    redirects: redirectRules({ [named.url]: ['http://internal.example:1'] }),
  });
  await t.rejects(c2.get(named.url, '/m/@v/list'), { code: 'UPSTREAM_REDIRECT' });
  // An upstream that is itself on a private address may redirect to one.
  const real = client(t, { redirects: redirectRules({ [up.url]: [inner.url] }) });
  const res = await real.get(up.url, '/m/@v/list');
  t.equal(res.status, 200);
  await res.body.dump();
  t.equal(inner.seen.length, 1);
});

t.test('each hop keeps the https rule of the pinned dispatcher', async (t) => {
  const target = await server(t, ok);
  const up = await server(t, (req, res) =>
    res.writeHead(302, { location: `${target.url}${req.url}` }).end(),
  );
  const pinned = createPinnedDispatcher({ pins: {}, pinning: 'required', allowHttp: false });
  t.teardown(() => pinned.close());
  const c = new UpstreamClient({
    dispatcher: pinned,
    headersTimeoutMs: 1000,
    bodyTimeoutMs: 1000,
    retries: 0,
    retryBaseMs: 1,
    redirects: redirectRules({ [up.url]: [target.url] }),
  });
  await t.rejects(c.get(up.url, '/m/@v/list'), { code: 'UPSTREAM_INSECURE' });
  t.equal(up.seen.length + target.seen.length, 0);
  t.same(isPrivateAddress('169.254.169.254'), true);
  t.same(isPrivateAddress('::ffff:192.168.1.1'), true);
  t.same(isPrivateAddress('fe80::1'), true);
  t.same(isPrivateAddress('8.8.8.8'), false);
});

t.test('a body that drips forever hits the total deadline', async (t) => {
  const timers: NodeJS.Timeout[] = [];
  t.teardown(() => timers.forEach(clearInterval));
  const drip = await server(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    timers.push(setInterval(() => res.write('v'), 20));
  });
  const c = client(t, { deadlines: { smallMs: 300 } });
  const started = performance.now();
  const res = await c.get(drip.url, '/m/@v/list');
  await t.rejects(res.body.text(), {
    code: 'UPSTREAM_TIMEOUT',
    message: /did not deliver \/m\/@v\/list within its total deadline/,
  });
  const took = performance.now() - started;
  t.ok(took >= 290 && took < 3000, `stopped after ${Math.round(took)} ms`);
  await drip.aborted;
  t.equal(c.active, 0, 'nothing left in flight');
});

t.test('a zip deadline scales with its size', async (t) => {
  const timers: NodeJS.Timeout[] = [];
  t.teardown(() => timers.forEach(clearInterval));
  const drip = await server(t, (_req, res) => {
    res.writeHead(200, { 'content-length': 1000 });
    timers.push(setInterval(() => res.write('z'), 10));
  });
  // 100 ms base + 1000 bytes at 2000 bytes/s = 600 ms, far beyond the 50 ms small deadline.
  const c = client(t, {
    deadlines: { smallMs: 50, zipBaseMs: 100, zipMinBytesPerSecond: 2000, zipMaxBytes: 10_000 },
  });
  const started = performance.now();
  const res = await c.get(drip.url, '/m/@v/v1.0.0.zip');
  await t.rejects(res.body.arrayBuffer(), { code: 'UPSTREAM_TIMEOUT' });
  const took = performance.now() - started;
  t.ok(took >= 550 && took < 5000, `zip deadline after ${Math.round(took)} ms`);
});

t.test("the caller's signal aborts the upstream request", async (t) => {
  const hang = await server(t, () => undefined);
  const c = client(t);
  const ctl = new AbortController();
  const pending = c.get(hang.url, '/m/@v/list', ctl.signal);
  await arrival(hang);
  ctl.abort(Object.assign(new Error('gone'), { code: 'X' }));
  await t.rejects(pending);
  await hang.aborted;
  t.pass('the fake upstream saw the socket close');
});

async function arrival(s: Server): Promise<void> {
  for (let i = 0; i < 200 && s.seen.length === 0; i++) await new Promise((r) => setImmediate(r));
  if (s.seen.length === 0) throw new Error('no request arrived');
}

t.test('close() aborts what is in flight and resolves once it let go', async (t) => {
  const hang = await server(t, (_req, res) => res.writeHead(200).write('partial'));
  const c = client(t);
  const res = await c.get(hang.url, '/m/@v/list');
  const reading = res.body.text();
  t.equal(c.active, 1);
  await c.close();
  await t.rejects(reading, { code: 'SHUTTING_DOWN' });
  await hang.aborted;
  t.equal(c.active, 0);
  await t.rejects(c.get(hang.url, '/m/@v/list'), { code: 'SHUTTING_DOWN' });
});

t.test('errors name the status and the upstream, never its credentials', async (t) => {
  const bad = await server(t, (_req, res) => res.writeHead(400).end('bad request: nope\n'));
  const c = client(t);
  const withUser = bad.url.replace('http://', 'http://svc:hunter2@');
  const err = await c.get(withUser, '/m/@v/list').catch((e: Error) => e);
  t.match(err, {
    code: 'UPSTREAM_BAD_STATUS',
    message: `upstream ${bad.url} answered 400 for /m/@v/list: bad request: nope`,
  });
  t.notMatch((err as Error).message, /hunter2|svc/);
  t.equal(bad.seen[0]?.auth, `Basic ${Buffer.from('svc:hunter2').toString('base64')}`);
  const down = await c
    .get('http://127.0.0.1:9', '/m/@v/list')
    .catch((e: { code: string; message: string }) => e);
  t.match(down, { code: 'UPSTREAM_UNAVAILABLE', message: /^upstream http:\/\/127\.0\.0\.1:9: / });
  await t.rejects(getFromChain(c, [], '/m/@v/list'), { code: 'UPSTREAM_NONE' });
});

t.test('a hostile path is refused before any request, even mid-chain', async (t) => {
  const a = await server(t, ok);
  const c = client(t);
  await t.rejects(getFromChain(c, [{ url: a.url, fallBackOnError: true }], '/m/@v/x?y.info'), {
    code: 'REQUEST_INVALID',
  });
  t.equal(a.seen.length, 0);
});
