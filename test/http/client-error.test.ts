import t from 'tap';
import path from 'node:path';
import http2 from 'node:http2';
import { connect } from 'node:net';
import { request } from 'undici';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { readRecords } from '../../src/audit/query.js';
import type { AuditRecord } from '../../src/audit/records.js';
import { clientErrorCode } from '../../src/http/client-error.js';
import { testdir } from '../helpers/testdir.js';
import { makeChain } from '../helpers/tls-fixtures.js';

// Requests Node's HTTP parser refuses never reach a route or a hook; they
// are still answered with a stable code and recorded.

/** Writes raw bytes to the gateway and reads everything it sends until it closes. */
function raw(url: string, bytes: string, o: { then?: string } = {}): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname);
    let got = '';
    let then = o.then;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      got += d;
      // The second request goes once the first answer is whole (its body ends "ok\n").
      if (then && got.endsWith('\r\n\r\nok\n')) {
        sock.write(then);
        then = undefined;
      }
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(got));
    sock.write(bytes);
  });
}

const requestId = (answer: string) => /\r\nx-request-id: ([0-9a-f-]{36})\r\n/.exec(answer)?.[1];

t.test('a request the parser refuses is answered, recorded, and reaches nothing', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  t.teardown(() => up.close());
  const dir = path.join(testdir(t), 'data');
  const gw = await startTestGateway(dir, { upstream: up.url });
  const before = [...up.hits.entries()];
  const cases: Array<{
    what: string;
    bytes: string;
    status: number;
    code: string;
    method?: string;
    path?: string;
  }> = [
    {
      what: 'a garbled request line',
      bytes: 'NOT HTTP AT ALL\r\n\r\n',
      status: 400,
      code: 'REQUEST_MALFORMED',
    },
    {
      what: 'a header name with a space, for a zip',
      bytes: 'GET /example.com/m/@v/v1.0.0.zip HTTP/1.1\r\nhost: x\r\nbad name: 1\r\n\r\n',
      status: 400,
      code: 'REQUEST_MALFORMED',
    },
    {
      what: 'a smuggling attempt (Content-Length beside Transfer-Encoding)',
      bytes:
        'POST /example.com/m/@v/list HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n' +
        'transfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /example.com/m/@v/v1.0.0.zip HTTP/1.1\r\nhost: x\r\n\r\n',
      status: 400,
      code: 'REQUEST_MALFORMED',
    },
    {
      what: 'a CONNECT',
      bytes: 'CONNECT 127.0.0.1:9 HTTP/1.1\r\nhost: 127.0.0.1:9\r\n\r\n',
      status: 404,
      code: 'NOT_FOUND',
      method: 'CONNECT',
      path: '127.0.0.1:9',
    },
    {
      what: 'an Expect other than 100-continue',
      bytes: 'GET /example.com/m/@v/list?x=1 HTTP/1.1\r\nhost: x\r\nexpect: nonsense\r\n\r\n',
      status: 417,
      code: 'REQUEST_EXPECTATION_FAILED',
      method: 'GET',
      path: '/example.com/m/@v/list',
    },
    {
      what: 'headers over the size limit',
      bytes: `GET /example.com/m/@v/list HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
      status: 431,
      code: 'REQUEST_HEADERS_TOO_LARGE',
    },
  ];
  const ids: string[] = [];
  for (const c of cases) {
    const answer = await raw(gw.url, c.bytes);
    t.match(answer, new RegExp(`^HTTP/1\\.1 ${c.status} `), `${c.what}: ${c.status}`);
    t.match(answer, `\r\n\r\n${c.code}: `, `${c.what}: the body names ${c.code}`);
    t.match(answer, /\r\nconnection: close\r\n/i);
    const id = requestId(answer);
    t.ok(id, `${c.what}: the answer carries its request id`);
    ids.push(id!);
  }
  const alive = await request(gw.url + '/healthz');
  t.equal(alive.statusCode, 200, 'the server keeps running');
  await alive.body.dump();
  t.same([...up.hits.entries()], before, 'nothing reached the upstream');
  const metrics = await request(gw.url + '/metrics');
  t.match(await metrics.body.text(), /code="REQUEST_MALFORMED"[^\n]*\} 3\n/, 'each is counted');
  await gw.close();
  const records: AuditRecord[] = [];
  for await (const r of readRecords(path.join(dir, 'audit'))) records.push(r);
  cases.forEach((c, i) => {
    const mine = records.filter((r) => (r as { requestId?: string }).requestId === ids[i]);
    t.equal(mine.length, 1, `${c.what}: one record under the answer's id`);
    t.match(mine[0], {
      type: 'access',
      status: c.status,
      code: c.code,
      client: { id: 'anonymous', address: '127.0.0.1' },
      method: c.method ?? '-',
      path: c.path ?? '-',
    });
  });
});

t.test('an HTTP/1.1 request without Host is refused through the front door', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  t.teardown(() => up.close());
  const dir = path.join(testdir(t), 'data');
  const gw = await startTestGateway(dir, { upstream: up.url });
  const answer = await raw(
    gw.url,
    'GET /example.com/m/@v/v1.0.0.zip HTTP/1.1\r\nconnection: close\r\n\r\n',
  );
  t.match(answer, /^HTTP\/1\.1 400 [\s\S]*\r\n\r\nREQUEST_INVALID: [^\n]*Host/);
  t.equal(up.count('/@v/v1.0.0.zip'), 0, 'the zip was not fetched');
  const id = requestId(answer);
  await gw.close();
  const records: AuditRecord[] = [];
  for await (const r of readRecords(path.join(dir, 'audit'))) records.push(r);
  const mine = records.filter((r) => (r as { requestId?: string }).requestId === id);
  t.match(mine, [{ type: 'access', status: 400, code: 'REQUEST_INVALID', kind: 'zip' }]);
  t.equal(mine.length, 1);
});

t.test('garbage after a whole answer on a kept-alive connection gets its own answer', async (t) => {
  const dir = path.join(testdir(t), 'data');
  const gw = await startTestGateway(dir, { upstream: 'off' });
  const answer = await raw(gw.url, 'GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n', {
    then: 'NOT HTTP\r\n\r\n',
  });
  t.match(answer, /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nok\nHTTP\/1\.1 400 [\s\S]*REQUEST_MALFORMED: /);
  const id = requestId(answer.slice(answer.indexOf('ok\n')));
  await gw.close();
  const records: AuditRecord[] = [];
  for await (const r of readRecords(path.join(dir, 'audit'))) records.push(r);
  const mine = records.filter((r) => (r as { requestId?: string }).requestId === id);
  t.match(mine, [{ type: 'access', code: 'REQUEST_MALFORMED', client: { address: '127.0.0.1' } }]);
  t.equal(mine.length, 1);
});

t.test(
  'a connection reset is no request; timeouts and overflows have their own codes',
  async (t) => {
    t.equal(clientErrorCode({ code: 'ECONNRESET' }), undefined);
    t.equal(clientErrorCode({ code: 'EPIPE' }), undefined);
    t.equal(clientErrorCode({}), undefined);
    t.equal(clientErrorCode({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }), 'REQUEST_HEADERS_TIMEOUT');
    t.equal(clientErrorCode({ code: 'HPE_HEADER_OVERFLOW' }), 'REQUEST_HEADERS_TOO_LARGE');
    t.equal(clientErrorCode({ code: 'HPE_INVALID_METHOD' }), 'REQUEST_MALFORMED');
  },
);

t.test('over HTTP/2, an unknown method and CONNECT are answered and recorded', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  t.teardown(() => up.close());
  const chain = makeChain();
  const dir = path.join(testdir(t), 'data');
  const gw = await startTestGateway(
    dir,
    { upstream: up.url, tls: {} },
    {
      https: {
        key: chain.leaf.privateKeyPem,
        cert: chain.leaf.certPem + chain.intermediate.certPem,
      },
    },
  );
  t.match(gw.url, /^https:/);
  const session = http2.connect(gw.url, { ca: chain.root.certPem, servername: 'localhost' });
  t.teardown(() => session.close());
  const ask = (headers: http2.OutgoingHttpHeaders) =>
    new Promise<{ status: number; id: string; body: string }>((resolve, reject) => {
      const st = session.request(headers);
      let head: http2.IncomingHttpHeaders = {};
      let body = '';
      st.setEncoding('utf8');
      st.on('response', (h) => (head = h));
      st.on('data', (d: string) => (body += d));
      st.on('error', reject);
      st.on('end', () =>
        resolve({ status: Number(head[':status']), id: String(head['x-request-id']), body }),
      );
      st.end();
    });
  const foo = await ask({ ':method': 'FOO', ':path': '/example.com/m/@v/v1.0.0.zip' });
  t.equal(foo.status, 404, 'an unknown method is 404');
  t.match(foo.body, /^NOT_FOUND: the method FOO is not served\n$/);
  const tunnel = await ask({ ':method': 'CONNECT', ':authority': '127.0.0.1:9' });
  t.equal(tunnel.status, 404, 'CONNECT is 404, in HTTP/2 framing');
  t.match(tunnel.body, /^NOT_FOUND: CONNECT is not served/);
  t.equal(up.count('/@v/v1.0.0.zip'), 0, 'nothing reached the upstream');
  session.close();
  await gw.close();
  const records: AuditRecord[] = [];
  for await (const r of readRecords(path.join(dir, 'audit'))) records.push(r);
  for (const [a, method] of [
    [foo, 'FOO'],
    [tunnel, 'CONNECT'],
  ] as const) {
    const mine = records.filter((r) => (r as { requestId?: string }).requestId === a.id);
    t.match(mine, [{ type: 'access', status: 404, code: 'NOT_FOUND', method }], method);
    t.equal(mine.length, 1);
  }
});

t.test('a request to the liveness path that is not liveness is recorded', async (t) => {
  const dir = path.join(testdir(t), 'data');
  const gw = await startTestGateway(dir, { upstream: 'off' });
  const post = await request(gw.url + '/healthz', { method: 'POST', body: 'x' });
  t.equal(post.statusCode, 404);
  await post.body.dump();
  const get = await request(gw.url + '/healthz');
  t.equal(get.statusCode, 200);
  await get.body.dump();
  const query = await raw(gw.url, 'QUERY /x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  t.match(
    query,
    /^HTTP\/1\.1 400 [\s\S]*\r\n\r\nREQUEST_INVALID: /,
    'a QUERY without a type is 400',
  );
  await gw.close();
  const records: AuditRecord[] = [];
  for await (const r of readRecords(path.join(dir, 'audit'))) records.push(r);
  const id = String(post.headers['x-request-id']);
  t.match(
    records.filter((r) => (r as { requestId?: string }).requestId === id),
    [{ type: 'access', status: 404, method: 'POST' }],
  );
  const getId = String(get.headers['x-request-id']);
  t.same(
    records.filter((r) => (r as { requestId?: string }).requestId === getId),
    [],
    'liveness itself is not',
  );
  const qid = requestId(query);
  t.match(
    records.filter((r) => (r as { requestId?: string }).requestId === qid),
    [{ type: 'access', status: 400, code: 'REQUEST_INVALID', method: 'QUERY' }],
  );
});
