import t from 'tap';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { fetchChain, parseTarget } from '../../src/tls/inspect.js';
import { spkiPin } from '../../src/tls/pins.js';
import { makeChain, startHttpsServer } from '../helpers/tls-fixtures.js';

const chain = makeChain();

t.test('parseTarget', async (t) => {
  t.same(parseTarget('https://sum.golang.org/lookup/x'), { host: 'sum.golang.org', port: 443 });
  t.same(parseTarget('example.com:8443'), { host: 'example.com', port: 8443 });
  t.same(parseTarget('https://[::1]:9/'), { host: '::1', port: 9 });
  t.throws(() => parseTarget('http://example.com'), { code: 'PINS_URL_INVALID' });
  t.throws(() => parseTarget('https://'), { code: 'PINS_URL_INVALID' });
});

t.test('fetchChain lists pins of an untrusted chain, root included when trusted', async (t) => {
  const srv = await startHttpsServer({
    certs: [chain.leaf.certPem, chain.intermediate.certPem],
    key: chain.leaf.privateKeyPem,
  });
  t.teardown(() => srv.close());
  const untrusted = await fetchChain(srv.url);
  t.equal(untrusted.authorized, false);
  t.ok(untrusted.authorizationError);
  t.same(
    untrusted.certs.map((c) => c.pin),
    [spkiPin(chain.leaf.x509), spkiPin(chain.intermediate.x509)],
    'what the server sent',
  );
  t.equal(untrusted.lines[0], `${spkiPin(chain.leaf.x509)}  CN=localhost  <- leaf`);
  t.match(
    untrusted.lines[1],
    /^sha256\/\S+ {2}CN=Test Intermediate CA, O=modgate tests {2}<- CA: pin this one$/,
    'the top CA of what was sent is the one to pin',
  );
  t.match(untrusted.verdict[0], /^chain: NOT trusted by the system roots \(/);
  t.equal(
    untrusted.verdict[1],
    `to pin: pins: { "127.0.0.1": ["${spkiPin(chain.intermediate.x509)}"] }  (see docs/pins.md)`,
  );

  const trusted = await fetchChain(`${srv.url}/path`, { ca: [chain.root.certPem] });
  t.equal(trusted.authorized, true);
  t.same(
    trusted.certs.map((c) => c.pin),
    [spkiPin(chain.leaf.x509), spkiPin(chain.intermediate.x509), spkiPin(chain.root.x509)],
  );
  t.same(
    trusted.certs.map((c) => c.selfSigned),
    [false, false, true],
  );
  t.same(
    trusted.certs.map((c) => c.pinThis),
    [false, false, true],
    'the root is marked',
  );
  t.equal(trusted.verdict[0], 'chain: trusted by the system roots plus --ca');
  t.match(trusted.lines[2], /<- CA: pin this one$/);
});

t.test('fetchChain through a CONNECT proxy, and failures', async (t) => {
  const srv = await startHttpsServer({
    certs: [chain.leaf.certPem],
    key: chain.leaf.privateKeyPem,
  });
  t.teardown(() => srv.close());
  let connects = 0;
  const proxy = http.createServer();
  proxy.on('connect', (req, client: net.Socket) => {
    connects++;
    const [h, p] = String(req.url).split(':');
    if (h !== '127.0.0.1') return void client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    const up = net.connect(Number(p), h, () => {
      client.write('HTTP/1.1 200 OK\r\n\r\n');
      up.pipe(client).pipe(up);
    });
    up.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (proxy.closeAllConnections(), proxy.close(() => r()))));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const r = await fetchChain(srv.url, { proxy: proxyUrl });
  t.equal(connects, 1);
  t.equal(r.certs[0]?.pin, spkiPin(chain.leaf.x509));
  await t.rejects(fetchChain('https://localhost:1', { proxy: proxyUrl }), {
    code: 'PINS_FETCH_FAILED',
  });
  const closed = net.createServer();
  await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((res) => closed.close(() => res()));
  await t.rejects(fetchChain(`https://127.0.0.1:${port}`, { timeoutMs: 2000 }), {
    code: 'PINS_FETCH_FAILED',
  });
});
