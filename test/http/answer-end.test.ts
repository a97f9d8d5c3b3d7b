import t from 'tap';
import type { Test } from 'tap';
import { readdirSync, readlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Client, request } from 'undici';
import type {
  AccessRecord,
  AuditPort,
  CompletionRecord,
  DecisionRecord,
} from '../../src/contracts.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startHeldUpstream } from '../helpers/held-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import type { RawConfig } from '../../src/config/load.js';
import { eventually } from '../helpers/mirror.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { testdir } from '../helpers/testdir.js';

const HELD = '/example.com/held/@v/v1.0.0.mod';
const OTHER = '/example.com/other/@v/v1.0.0.info';

const ZIP_FILE = /\/example\.com\/other\/@v\/v1\.0\.0\.zip$/;

/** This process's open files whose path matches (Linux /proc). */
function openFiles(match: RegExp): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (match.test(target)) out.push(target);
    } catch {
      // Closed while listed.
    }
  }
  return out;
}

async function setup<A extends AuditPort>(t: Test, audit: A, raw: RawConfig = {}) {
  const mods = [
    await makeModule('example.com/held', 'v1.0.0'),
    await makeModule('example.com/other', 'v1.0.0'),
  ];
  const up = await startHeldUpstream(mods, /held\/@v\/v1\.0\.0\.mod$/);
  const gw = await startTestGateway(testdir(t), { upstream: up.url, ...raw }, { audit });
  t.teardown(async () => {
    // The held answer is sent, so that the upstream's connection can end.
    up.release(HELD);
    await up.close();
  });
  return { up, gw, audit };
}

t.test(
  'close() with an answer in flight on a keep-alive connection ends that connection',
  async (t) => {
    // A regression waits for the keep-alive timeout (72 s): this fails it long before.
    t.setTimeout(30_000);
    const { up, gw } = await setup(t, recordingAudit());
    const client = new Client(gw.url, { keepAliveTimeout: 600_000 });
    t.teardown(() => client.destroy());
    const disconnected = new Promise<void>((resolve) => client.once('disconnect', () => resolve()));
    const pending = client.request({ path: HELD, method: 'GET' });
    await up.held(1);
    const closing = gw.close();
    const res = await pending;
    t.equal(res.statusCode, 503);
    t.match(await res.body.text(), /^SHUTTING_DOWN/);
    t.equal(res.headers.connection, 'close', 'the client is told not to reuse the connection');
    await disconnected;
    await closing;
    t.pass('close() returned once the answer was given');
  },
);

t.test(
  'a request that arrives while closing goes through the front door and is recorded',
  async (t) => {
    t.setTimeout(30_000);
    const { up, gw, audit } = await setup(t, recordingAudit());
    const { port } = new URL(gw.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    t.teardown(() => socket.destroy());
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(`GET ${HELD} HTTP/1.1\r\nHost: gw\r\n\r\n`);
    await up.held(1);
    const closing = gw.close();
    // The same connection is busy, so closing does not end it: this request reaches the gateway.
    socket.write(`GET ${OTHER} HTTP/1.1\r\nHost: gw\r\n\r\n`);
    await ended;
    await closing;
    const text = Buffer.concat(chunks).toString('latin1');
    // The first answer ends the connection (Connection: close), so the second is not sent.
    t.match(text, /^HTTP\/1\.1 503 [^]*connection: close[^]*SHUTTING_DOWN/i);
    t.notMatch(text, /"Service Unavailable"/, "no bare 503 that bypasses modgate's own answer");
    t.ok(
      audit.decisions.some((d) => d.module === 'example.com/other'),
      'the request that arrived while closing is in the audit trail',
    );
    t.ok(
      audit.decisions.some(
        (d) => d.module === 'example.com/held' && d.codes.includes('SHUTTING_DOWN'),
      ),
      'and so is the one that was cut short',
    );
  },
);

t.test(
  'answers queued on a pipelined connection that the client drops are finished: recorded, counted, their files closed',
  async (t) => {
    t.setTimeout(60_000);
    const decisions: DecisionRecord[] = [];
    const completions: CompletionRecord[] = [];
    const accesses: AccessRecord[] = [];
    const audit: AuditPort = {
      decision: async (r) => void decisions.push(r),
      access: async (r) => void accesses.push(r),
      completion: (r) => void completions.push(r),
      security: async () => undefined,
      healthy: () => true,
    };
    // Zips are streamed from disk (none kept in memory): such an answer holds an open file.
    const { up, gw } = await setup(t, audit, { cache: { memoryMaxItemBytes: 0 } });
    t.teardown(() => gw.close());
    const ZIP = '/example.com/other/@v/v1.0.0.zip';
    const LIST = '/example.com/other/@v/list';
    const warm = await request(gw.url + ZIP);
    t.equal(warm.statusCode, 200);
    await warm.body.dump();
    await gw.settled();
    const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    // The first answer is held upstream; the zip and the list queue behind it.
    socket.write([HELD, ZIP, LIST].map((p) => `GET ${p} HTTP/1.1\r\nHost: gw\r\n\r\n`).join(''));
    await up.held(1);
    t.ok(
      await eventually(() => decisions.filter((d) => d.kind === 'zip').length === 2),
      'the queued zip was decided',
    );
    socket.destroy();
    t.ok(
      await eventually(() => gw.metrics.activeSource() === 0),
      'no answer is left counted as in flight',
    );
    const zipCut = () =>
      completions.some(
        (c) =>
          c.outcome === 'aborted' && decisions.some((d) => d.ctx === c.ctx && d.kind === 'zip'),
      );
    t.ok(await eventually(zipCut), "the queued zip's completion record says it was cut short");
    t.ok(
      await eventually(() => openFiles(ZIP_FILE).length === 0),
      "the queued zip's file is closed",
    );
    // Decided before the client left, or cut short before its decision: recorded either way.
    t.ok(
      await eventually(
        () =>
          decisions.some((d) => d.kind === 'list' && d.module === 'example.com/other') ||
          accesses.some((a) => a.kind === 'list' && a.code === 'CLIENT_GONE'),
      ),
      'the queued list answer is in the audit trail',
    );
    t.same(chunks, [], 'nothing was sent');
    const metrics = await (await request(`${gw.url}/metrics`)).body.text();
    t.match(metrics, /modgate_requests_total\{kind="list",status="\d+",code="CLIENT_GONE"\} 1/);
  },
);

t.test(
  'a client that leaves in the middle of a zip streamed from disk: its file is closed',
  async (t) => {
    t.setTimeout(60_000);
    const big = await makeModule('example.com/big', 'v1.0.0', {
      'blob.bin': randomBytes(16 << 20),
    });
    const up = await startFakeUpstream([big]);
    const completions: CompletionRecord[] = [];
    const audit = {
      ...recordingAudit(),
      completion: (r: CompletionRecord) => void completions.push(r),
    };
    const gw = await startTestGateway(
      testdir(t),
      { upstream: up.url, cache: { memoryMaxItemBytes: 0 } },
      { audit },
    );
    t.teardown(async () => {
      await gw.close();
      await up.close();
    });
    const ZIP = '/example.com/big/@v/v1.0.0.zip';
    const warm = await request(gw.url + ZIP);
    await warm.body.dump();
    await gw.settled();
    t.notOk(
      completions.some((c) => c.outcome === 'aborted'),
      'the full download is not recorded as cut short',
    );
    const res = await request(gw.url + ZIP);
    t.equal(res.statusCode, 200);
    t.equal(res.headers['x-modgate-cache'], 'hit');
    for await (const _ of res.body) break;
    t.ok(
      await eventually(() => completions.some((c) => c.outcome === 'aborted')),
      'the answer is recorded as cut short',
    );
    t.ok(
      await eventually(() => openFiles(/\/example\.com\/big\/@v\/v1\.0\.0\.zip$/).length === 0),
      'the zip file is closed',
    );
  },
);
