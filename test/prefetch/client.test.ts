import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { codeOf, GatewayClient, isTransient } from '../../src/prefetch/gateway-client.js';
import { formatBytes, formatProgress, ProgressLine } from '../../src/prefetch/progress.js';

t.test('refusals are final, passing failures are retried', async (t) => {
  t.notOk(isTransient(403, 'POLICY_DENIED'));
  t.notOk(isTransient(404, 'NOT_FOUND'));
  t.notOk(isTransient(502, 'ZIP_INVALID'));
  t.notOk(isTransient(502, 'SUMDB_BAD_PROOF'));
  t.ok(isTransient(502, 'UPSTREAM_UNAVAILABLE'));
  t.ok(isTransient(503, 'OVERLOADED'));
  t.ok(isTransient(500, undefined));
  t.ok(isTransient(429, undefined));
  t.equal(codeOf('POLICY_DENIED', ''), 'POLICY_DENIED');
  t.equal(codeOf(undefined, 'x\nZIP_INVALID: bad'), 'ZIP_INVALID');
  t.equal(codeOf('not a code', 'nothing here'), undefined);
});

t.test('the client retries 5xx and network errors, sends the purpose and token', async (t) => {
  let n = 0;
  const seen: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    seen.push(`${req.headers['x-modgate-purpose']} ${req.headers.authorization}`);
    n++;
    if (req.url === '/flaky' && n < 3)
      return void res.writeHead(503, { 'x-modgate-error': 'OVERLOADED' }).end('OVERLOADED: busy\n');
    if (req.url === '/denied')
      return void res
        .writeHead(403, { 'x-modgate-error': 'POLICY_DENIED' })
        .end('modgate policy denied this request:\nVERSION_BANNED: no\n');
    if (req.url === '/drop') return void req.socket.destroy();
    res.end('body');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const c = new GatewayClient(base, { token: 'tok', deadlineMs: 5000, retries: 2, retryBaseMs: 1 });
  t.teardown(() => c.close());
  const text = async (b: AsyncIterable<Buffer>) => {
    let s = '';
    for await (const x of b) s += x.toString();
    return s;
  };
  const ok = await c.get('/flaky', text);
  t.match(ok, { ok: true, status: 200, bytes: 4, result: 'body' });
  t.equal(n, 3, 'two 503 answers, then the body');
  t.equal(seen[0], 'prefetch Bearer tok');
  n = 0;
  const denied = await c.get('/denied', text);
  t.match(denied, {
    ok: false,
    status: 403,
    code: 'POLICY_DENIED',
    transient: false,
    reason: /VERSION_BANNED/,
  });
  t.equal(n, 1, 'a refusal is not asked again');
  n = 0;
  const dropped = await c.get('/drop', text);
  t.match(dropped, { ok: false, transient: true, reason: /unreachable/ });
  t.equal(n, 3, 'network errors are retried');
});

t.test('progress: count, bytes, rate and ETA; drawn only on a terminal', async (t) => {
  t.equal(formatBytes(999), '999 B');
  t.equal(formatBytes(1_500_000), '1.5 MB');
  t.equal(
    formatProgress({ done: 10, total: 40, bytes: 2_000_000, elapsedMs: 4000 }),
    '10/40 artifacts, 2.0 MB, 500.0 KB/s, ETA 12s',
  );
  t.match(formatProgress({ done: 0, total: 4, bytes: 0, elapsedMs: 0 }), /ETA \?$/);
  t.match(formatProgress({ done: 1, total: 200, bytes: 0, elapsedMs: 60_000 }), /ETA 3h19m$/);
  t.match(formatProgress({ done: 4, total: 4, bytes: 0, elapsedMs: 100 }), /ETA 0s$/);
  const out: string[] = [];
  const tty = new ProgressLine(2, { isTTY: true, write: (s) => out.push(s) });
  tty.tick(10);
  tty.note('refused: x');
  tty.tick(5);
  tty.end();
  t.match(out.join(''), /1\/2 artifacts, 10 B/);
  t.match(out.join(''), /2\/2 artifacts, 15 B/);
  t.match(out.join(''), /\r\x1b\[Krefused: x\n/);
  const plain: string[] = [];
  const pipe = new ProgressLine(1, { isTTY: false, write: (s) => plain.push(s) });
  pipe.tick(1);
  pipe.note('line');
  pipe.end();
  t.same(plain, ['line\n'], 'no progress line when stderr is not a terminal');
});
