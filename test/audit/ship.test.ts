import t, { type Test } from 'tap';
import dgram from 'node:dgram';
import { createServer, type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import {
  loadOrCreateAuditKey,
  openCheckpoint,
  signCheckpoint,
  type Checkpoint,
} from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import { sha256Hex } from '../../src/audit/records.js';
import { CheckpointShipper, syslogMessage } from '../../src/audit/ship.js';
import { testdir } from '../helpers/testdir.js';

async function body(req: IncomingMessage): Promise<string> {
  let s = '';
  for await (const c of req) s += (c as Buffer).toString();
  return s;
}

async function key(t: Test) {
  return loadOrCreateAuditKey(path.join(testdir(t), 'k'));
}

t.test('HTTP shipping retries 5xx with backoff and delivers the note', async (t) => {
  const k = await key(t);
  const got: { body: string; seq: string | undefined }[] = [];
  let calls = 0;
  const server = createServer(async (req, res) => {
    calls++;
    const b = await body(req);
    if (calls <= 2) {
      res.statusCode = 503;
      return res.end('busy');
    }
    got.push({ body: b, seq: req.headers['x-modgate-audit-seq'] as string | undefined });
    res.statusCode = 204;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/checkpoints`;
  const sleeps: number[] = [];
  const shipper = new CheckpointShipper({
    http: { url, backoffMs: 10 },
    sleep: async (ms) => void sleeps.push(ms),
  });
  const cp = signCheckpoint({ seq: 7, hash: sha256Hex('x') }, k);
  await shipper.ship(cp);
  t.equal(calls, 3);
  t.same(sleeps, [10, 20], 'exponential backoff');
  t.equal(got[0]?.seq, '7');
  t.same(openCheckpoint(got[0]?.body ?? '', k.verifierKey), { seq: 7, hash: sha256Hex('x') });
  t.match(shipper.stats, { shipped: 1, failed: 0, attempts: 3 });
});

t.test('HTTP shipping gives up: bounded retries, no retry on 4xx', async (t) => {
  const k = await key(t);
  let calls = 0;
  let status = 500;
  const server = createServer((req, res) => {
    calls++;
    req.resume();
    res.statusCode = status;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const shipper = new CheckpointShipper({
    http: { url, retries: 3, backoffMs: 1 },
    sleep: async () => {},
  });
  const cp = signCheckpoint({ seq: 1, hash: sha256Hex('y') }, k);
  await t.rejects(shipper.ship(cp), { code: 'AUDIT_SHIP_FAILED', message: /status 500/ });
  t.equal(calls, 4, 'first attempt plus 3 retries');
  status = 403;
  calls = 0;
  await t.rejects(shipper.ship(cp), { code: 'AUDIT_SHIP_FAILED' });
  t.equal(calls, 1);
});

t.test('the log hands checkpoints to the shipper; the queue is bounded', async (t) => {
  const k = await key(t);
  const received: string[] = [];
  const server = createServer(async (req, res) => {
    received.push(await body(req));
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const shipper = new CheckpointShipper({ http: { url } });
  const log = await AuditLog.open({
    dir: path.join(testdir(t), 'a'),
    key: k,
    checkpointIntervalSec: 0,
    onCheckpoint: (cp) => shipper.enqueue(cp),
  });
  await log.append({ type: 'security', event: 'PIN_MISMATCH', details: {} });
  await log.checkpoint();
  await log.close();
  await shipper.idle();
  t.equal(received.length, 2, 'periodic and final checkpoints');
  t.same(
    received.map((n) => openCheckpoint(n, k.verifierKey).seq),
    [2, 4],
  );
  const errors: unknown[] = [];
  const stuck = new CheckpointShipper({
    http: { url: 'http://127.0.0.1:1/', retries: 0 },
    maxQueue: 2,
    onError: (e) => errors.push(e),
  });
  const cps: Checkpoint[] = [1, 2, 3, 4, 5].map((s) =>
    signCheckpoint({ seq: s, hash: sha256Hex(String(s)) }, k),
  );
  for (const cp of cps) stuck.enqueue(cp);
  await stuck.idle();
  t.equal(stuck.stats.dropped, 2, 'one in flight, two queued, two dropped');
  t.equal(errors.length, 3);
});

t.test('syslog over UDP and TCP (RFC 5424)', async (t) => {
  const k = await key(t);
  const cp = signCheckpoint({ seq: 42, hash: sha256Hex('z') }, k);
  const msg = syslogMessage(
    cp,
    { host: 'x', port: 1, hostname: 'gw 1', appName: 'modgate' },
    new Date('2024-01-01T00:00:00Z'),
  );
  t.match(
    msg,
    /^<109>1 2024-01-01T00:00:00\.000Z gw1 modgate \d+ checkpoint \[checkpoint@32473 seq="42" hash="[A-Za-z0-9+/=]+"\] note=/,
  );
  const note = Buffer.from(msg.slice(msg.indexOf('note=') + 5), 'base64');
  t.equal(openCheckpoint(note, k.verifierKey).seq, 42);

  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  t.teardown(() => udp.close());
  const udpMsg = new Promise<string>((r) => udp.once('message', (m) => r(m.toString())));
  await new CheckpointShipper({ syslog: { host: '127.0.0.1', port: udp.address().port } }).ship(cp);
  t.match(await udpMsg, /^<109>1 .* checkpoint \[checkpoint@32473 seq="42"/);

  let tcpData = '';
  const tcpDone = new Promise<void>((resolve) => {
    const srv = net.createServer((s) => {
      s.on('data', (d) => (tcpData += d.toString()));
      s.on('end', () => {
        srv.close();
        resolve();
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      void new CheckpointShipper({ syslog: { host: '127.0.0.1', port, protocol: 'tcp' } }).ship(cp);
    });
  });
  await tcpDone;
  const sp = tcpData.indexOf(' ');
  t.equal(
    Number(tcpData.slice(0, sp)),
    Buffer.byteLength(tcpData.slice(sp + 1)),
    'octet-counted frame',
  );
  t.match(tcpData.slice(sp + 1), /^<109>1 /);
});

t.test("a replica's checkpoint is shipped with its replica named", async (t) => {
  const k = await key(t);
  const cp = signCheckpoint({ seq: 9, hash: sha256Hex('x'), replica: 'gw-2' }, k);
  const msg = syslogMessage(cp, { host: '127.0.0.1', port: 514 });
  t.match(msg, /\[checkpoint@32473 seq="9" hash="[^"]+" replica="gw-2"\]/);
  t.notMatch(
    syslogMessage(signCheckpoint({ seq: 9, hash: sha256Hex('x') }, k), { host: 'h', port: 1 }),
    /replica=/,
  );
  const headers: (string | undefined)[] = [];
  const server = createServer(async (req, res) => {
    await body(req);
    headers.push(req.headers['x-modgate-audit-replica'] as string | undefined);
    res.statusCode = 204;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/audit`;
  const shipper = new CheckpointShipper({ http: { url, retries: 0 } });
  await shipper.ship(cp);
  t.same(headers, ['gw-2']);
});
