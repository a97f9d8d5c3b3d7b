import t, { type Test } from 'tap';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { request } from 'undici';
import { isModgateError } from '../../src/errors.js';
import { UpstreamClient } from '../../src/upstream/client.js';
import { spkiPin } from '../../src/tls/pins.js';
import {
  createPinnedDispatcher,
  pinsFor,
  type PinEvent,
  type PinnedDispatcherOptions,
} from '../../src/upstream/pinned-agent.js';
import {
  makeChain,
  makeImpostorChain,
  makeLeaf,
  startHttpsServer,
  type TestHttpsServer,
} from '../helpers/tls-fixtures.js';

const chain = makeChain();
const other = makeChain('Unrelated Root');
const ROOT_PIN = spkiPin(chain.root.x509);
const LEAF_PIN = spkiPin(chain.leaf.x509);

async function serve(t: Test, certs: string[], key: string): Promise<TestHttpsServer> {
  const srv = await startHttpsServer({ certs, key });
  t.teardown(() => srv.close());
  return srv;
}

function dispatcher(
  t: Test,
  pins: string[] | undefined,
  extra: Partial<PinnedDispatcherOptions> = {},
) {
  const events: PinEvent[] = [];
  const d = createPinnedDispatcher({
    pins: new Map(pins ? [['127.0.0.1', pins]] : []),
    pinning: 'required',
    allowHttp: false,
    ca: [chain.root.certPem],
    connectTimeoutMs: 5000,
    onPinEvent: (e) => events.push(e),
    ...extra,
  });
  t.teardown(() => d.destroy());
  return { d, events };
}

async function get(
  url: string,
  d: ReturnType<typeof createPinnedDispatcher>,
): Promise<{ status?: number; body?: string; err?: unknown }> {
  try {
    const res = await request(url, { dispatcher: d });
    return { status: res.statusCode, body: await res.body.text() };
  } catch (err) {
    return { err };
  }
}

t.test('pinsFor: exact, wildcard, function, normalization', async (t) => {
  const m = new Map([
    ['a.example', ['x']],
    ['*.example', ['w']],
  ]);
  t.same(pinsFor(m, 'A.Example.'), ['x']);
  t.same(pinsFor(m, 'b.example'), ['w']);
  t.equal(pinsFor(m, 'c.b.example'), undefined, 'wildcard covers one label');
  t.same(pinsFor({ '::1': ['v6'] }, '[::1]'), ['v6']);
  t.equal(pinsFor({}, 'constructor'), undefined, 'no prototype keys');
  t.same(
    pinsFor((h) => (h === 'f' ? ['fn'] : undefined), 'F'),
    ['fn'],
  );
  t.throws(
    () => createPinnedDispatcher({ pins: { h: ['bad'] }, pinning: 'required', allowHttp: false }),
    { code: 'PIN_INVALID' },
  );
});

t.test('right leaf pin and right CA pin pass', async (t) => {
  const srv = await serve(
    t,
    [chain.leaf.certPem, chain.intermediate.certPem],
    chain.leaf.privateKeyPem,
  );
  for (const pin of [LEAF_PIN, ROOT_PIN]) {
    const { d, events } = dispatcher(t, [pin]);
    const r = await get(`${srv.url}/x`, d);
    t.equal(r.status, 200, `status with ${pin === LEAF_PIN ? 'leaf' : 'root'} pin`);
    t.equal(r.body, 'ok /x');
    t.same(events, []);
  }
});

t.test('wrong pin blocks with UPSTREAM_PIN_MISMATCH and reports the event', async (t) => {
  const srv = await serve(
    t,
    [chain.leaf.certPem, chain.intermediate.certPem],
    chain.leaf.privateKeyPem,
  );
  const wrong = spkiPin(other.root.x509);
  const { d, events } = dispatcher(t, [wrong]);
  const r = await get(`${srv.url}/x`, d);
  t.ok(isModgateError(r.err, 'UPSTREAM_PIN_MISMATCH'), `error: ${String(r.err)}`);
  t.equal(srv.requests, 0, 'no request reached the server');
  t.equal(events.length, 1);
  t.match(events[0], { kind: 'mismatch', host: '127.0.0.1', expected: [wrong] });
  t.ok((events[0] as { seen: string[] }).seen.includes(ROOT_PIN), 'seen lists the chain');
});

t.test(
  'a chain that names the pinned CA but is signed by another trusted key is blocked',
  async (t) => {
    const { impostorCa, leaf } = makeImpostorChain(chain.root);
    // The server sends the real pinned root next to the forged leaf.
    const srv = await serve(t, [leaf.certPem, chain.root.certPem], leaf.privateKeyPem);
    const { d, events } = dispatcher(t, [ROOT_PIN], {
      ca: [impostorCa.certPem, chain.root.certPem],
    });
    const r = await get(`${srv.url}/x`, d);
    t.ok(isModgateError(r.err, 'UPSTREAM_PIN_MISMATCH'), `error: ${String(r.err)}`);
    t.equal(srv.requests, 0);
    t.equal(events[0]?.kind, 'mismatch');
    // The same chain passes when its real signer is pinned: the handshake itself is fine.
    const ok = dispatcher(t, [spkiPin(impostorCa.x509)], {
      ca: [impostorCa.certPem, chain.root.certPem],
    });
    t.equal((await get(`${srv.url}/x`, ok.d)).status, 200);
  },
);

t.test(
  'a rotated leaf under the pinned CA passes; a leaf pin does not survive rotation',
  async (t) => {
    const rotated = makeLeaf(chain.intermediate);
    const srv = await serve(
      t,
      [rotated.certPem, chain.intermediate.certPem],
      rotated.privateKeyPem,
    );
    t.equal((await get(`${srv.url}/`, dispatcher(t, [ROOT_PIN]).d)).status, 200);
    const r = await get(`${srv.url}/`, dispatcher(t, [LEAF_PIN]).d);
    t.ok(isModgateError(r.err, 'UPSTREAM_PIN_MISMATCH'));
  },
);

t.test('the hostname check runs before the pin check', async (t) => {
  const leaf = makeLeaf(chain.intermediate, { sans: ['other.example'] });
  const srv = await serve(t, [leaf.certPem, chain.intermediate.certPem], leaf.privateKeyPem);
  const r = await get(`${srv.url}/`, dispatcher(t, [ROOT_PIN]).d);
  t.match((r.err as NodeJS.ErrnoException)?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
});

t.test('an untrusted chain fails even when pinned', async (t) => {
  const srv = await serve(
    t,
    [other.leaf.certPem, other.intermediate.certPem],
    other.leaf.privateKeyPem,
  );
  const r = await get(`${srv.url}/`, dispatcher(t, [spkiPin(other.root.x509)]).d);
  t.ok(r.err, 'refused');
  t.notOk(isModgateError(r.err), 'by the trust check, before pins');
});

t.test('pin change takes effect without restart', async (t) => {
  const srv = await serve(
    t,
    [chain.leaf.certPem, chain.intermediate.certPem],
    chain.leaf.privateKeyPem,
  );
  const { d } = dispatcher(t, [ROOT_PIN]);
  t.equal((await get(`${srv.url}/a`, d)).status, 200, 'keep-alive connection established');
  await d.updatePins({ '127.0.0.1': [spkiPin(other.root.x509)] });
  t.ok(
    isModgateError((await get(`${srv.url}/b`, d)).err, 'UPSTREAM_PIN_MISMATCH'),
    'new pins apply to the next request',
  );
  await d.updatePins({ '127.0.0.1': [LEAF_PIN] });
  t.equal((await get(`${srv.url}/c`, d)).status, 200, 'and back');
});

t.test('an in-flight request finishes on the old agent during a pin change', async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const srv = await startHttpsServer({
    certs: [chain.leaf.certPem, chain.intermediate.certPem],
    key: chain.leaf.privateKeyPem,
    handler: (_req, res) => void gate.then(() => res.end('late')),
  });
  t.teardown(() => srv.close());
  const { d } = dispatcher(t, [ROOT_PIN]);
  const pending = get(`${srv.url}/slow`, d);
  while (srv.requests === 0) await new Promise((r) => setTimeout(r, 5));
  const closed = d.updatePins({ '127.0.0.1': [LEAF_PIN] });
  release();
  t.same(await pending, { status: 200, body: 'late' });
  await closed;
});

t.test('unpinned hosts: refused when required, warned when optional', async (t) => {
  const srv = await serve(
    t,
    [chain.leaf.certPem, chain.intermediate.certPem],
    chain.leaf.privateKeyPem,
  );
  const req = dispatcher(t, undefined);
  const r = await get(`${srv.url}/`, req.d);
  t.ok(isModgateError(r.err, 'UPSTREAM_UNPINNED'));
  t.equal(srv.requests, 0);
  const opt = dispatcher(t, undefined, { pinning: 'optional' });
  t.equal((await get(`${srv.url}/`, opt.d)).status, 200);
  t.same(opt.events, [{ kind: 'unpinned', host: '127.0.0.1' }]);
});

t.test('plain-http upstream refused unless allowed', async (t) => {
  const server = http.createServer((_req, res) => res.end('plain'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const r = await get(url, dispatcher(t, [ROOT_PIN]).d);
  t.ok(isModgateError(r.err, 'UPSTREAM_INSECURE'));
  t.same(await get(url, dispatcher(t, [ROOT_PIN], { allowHttp: true }).d), {
    status: 200,
    body: 'plain',
  });
});

t.test('pins are enforced through an HTTPS_PROXY tunnel', async (t) => {
  const srv = await serve(
    t,
    [chain.leaf.certPem, chain.intermediate.certPem],
    chain.leaf.privateKeyPem,
  );
  let tunnels = 0;
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req, client: net.Socket, head: Buffer) => {
    tunnels++;
    const [host, port] = String(req.url).split(':');
    const up = net.connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(client).pipe(up);
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (proxy.closeAllConnections(), proxy.close(() => r()))));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const good = dispatcher(t, [ROOT_PIN], { proxy: { httpsProxy: proxyUrl, noProxy: '' } });
  t.equal((await get(`${srv.url}/p`, good.d)).status, 200);
  t.equal(tunnels, 1, 'went through the proxy');
  const bad = dispatcher(t, [spkiPin(other.root.x509)], {
    proxy: { httpsProxy: proxyUrl, noProxy: '' },
  });
  t.ok(isModgateError((await get(`${srv.url}/p`, bad.d)).err, 'UPSTREAM_PIN_MISMATCH'));
  t.equal(tunnels, 2);
  const bypass = dispatcher(t, [ROOT_PIN], {
    proxy: { httpsProxy: proxyUrl, noProxy: '127.0.0.1' },
  });
  t.equal((await get(`${srv.url}/p`, bypass.d)).status, 200);
  t.equal(tunnels, 2, 'NO_PROXY bypasses the proxy');
});

t.test('UpstreamClient surfaces the pin codes unchanged and does not retry them', async (t) => {
  const srv = await serve(
    t,
    [chain.leaf.certPem, chain.intermediate.certPem],
    chain.leaf.privateKeyPem,
  );
  const { d } = dispatcher(t, [spkiPin(other.root.x509)]);
  const client = new UpstreamClient({
    dispatcher: d,
    headersTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
    retries: 2,
    retryBaseMs: 1,
  });
  await t.rejects(client.get(srv.url, '/mod/@v/list'), {
    code: 'UPSTREAM_PIN_MISMATCH',
    details: { host: '127.0.0.1' },
  });
  const unpinned = dispatcher(t, undefined);
  const c2 = new UpstreamClient({
    dispatcher: unpinned.d,
    headersTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
    retries: 2,
    retryBaseMs: 1,
  });
  await t.rejects(c2.get(srv.url, '/x'), {
    code: 'UPSTREAM_UNPINNED',
    message: `no TLS key pins are configured for 127.0.0.1\nsee its chain with \`modgate pins ${srv.url}\` and add the CA's pin under pins."127.0.0.1"; see docs/pins.md`,
  });
  await t.rejects(c2.get('http://127.0.0.1:9', '/x'), { code: 'UPSTREAM_INSECURE' });
  t.equal(srv.requests, 0);
});
