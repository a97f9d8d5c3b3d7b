import t from 'tap';
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import type { AuditPort, CompletionRecord, DecisionRecord } from '../../src/contracts.js';
import { ModgateError } from '../../src/errors.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { testdir } from '../helpers/testdir.js';

const ZIP = '/example.com/big/@v/v1.0.0.zip';
const MOD = '/example.com/big/@v/v1.0.0.mod';

/** An audit port whose decision commits the test settles, one by one. */
function gatedAudit() {
  const decisions: DecisionRecord[] = [];
  const completions: CompletionRecord[] = [];
  const commits: Array<{ resolve(): void; reject(e: unknown): void }> = [];
  let held = false;
  let arrived: () => void = () => undefined;
  const port: AuditPort = {
    decision(rec) {
      decisions.push(rec);
      if (!held) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        commits.push({ resolve, reject });
        arrived();
      });
    },
    completion: (rec) => void completions.push(rec),
    security: async () => undefined,
    healthy: () => true,
  };
  return {
    port,
    decisions,
    completions,
    /** From now on, decision commits wait; resolves when the next one is waiting. */
    hold(): Promise<void> {
      held = true;
      return new Promise<void>((r) => (arrived = r));
    },
    /** Decision commits no longer wait. */
    release(): void {
      held = false;
    },
    commits,
  };
}

async function setup(t: Test) {
  // Several 256 KiB read chunks, streamed from disk (memoryMaxItemBytes: 0).
  const big = await makeModule('example.com/big', 'v1.0.0', {
    'big.bin': randomBytes(1_200_000),
  });
  const up = await startFakeUpstream([big]);
  const audit = gatedAudit();
  const gw = await startTestGateway(
    testdir(t),
    { upstream: up.url, cache: { memoryMaxItemBytes: 0 } },
    { audit: audit.port },
  );
  const agent = new Agent();
  t.teardown(async () => {
    await agent.close();
    await gw.close();
    await up.close();
  });
  // Cache the zip and the go.mod (their decisions commit at once).
  for (const p of [ZIP, MOD]) {
    const res = await request(gw.url + p, { dispatcher: agent });
    t.equal(res.statusCode, 200, `${p} cached`);
    await res.body.dump();
  }
  return { big, gw, audit, agent };
}

/** Lets the server run many turns of its event loop (each a whole request), bounded. */
async function roundTrips(url: string, agent: Agent, n: number): Promise<void> {
  for (let i = 0; i < n; i++)
    await (await request(`${url}/healthz`, { dispatcher: agent })).body.dump();
}

async function bytesFlowing(res: Awaited<ReturnType<typeof request>>) {
  const got = { bytes: 0, ended: false, error: undefined as unknown, chunks: [] as Buffer[] };
  res.body.on('data', (c: Buffer) => {
    got.bytes += c.length;
    got.chunks.push(c);
  });
  const done = new Promise<void>((resolve) => {
    res.body.once('end', () => ((got.ended = true), resolve()));
    res.body.once('error', (e) => ((got.error = e), resolve()));
  });
  return { got, done };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

t.test('a streamed zip: bytes flow during the commit, the last ones only after it', async (t) => {
  const { big, gw, audit, agent } = await setup(t);
  const before = audit.completions.length;
  const waiting = audit.hold();
  const res = await request(gw.url + ZIP, { dispatcher: agent });
  await waiting;
  t.equal(res.statusCode, 200, 'headers went out while the record commits');
  const length = Number(res.headers['content-length']);
  t.equal(length, big.zip.length);
  const { got, done } = await bytesFlowing(res);
  // All but the held last chunk arrive without the commit.
  await until(() => got.bytes > 0 && got.bytes >= length - 256 * 1024, 'the first bytes');
  await roundTrips(gw.url, agent, 20);
  t.ok(got.bytes < length, `${got.bytes} of ${length} bytes before the record is durable`);
  t.notOk(got.ended, 'the body is not complete before the record is durable');
  t.equal(audit.completions.length, before, 'no completion yet');

  audit.commits.shift()!.resolve();
  await done;
  t.ok(got.ended, 'completes once durable');
  t.ok(Buffer.concat(got.chunks).equals(big.zip), 'the genuine bytes');
  await until(() => audit.completions.length === before + 1, 'the completion record');
  t.match(audit.completions[before], { outcome: 'complete', bytes: length, status: 200 });
});

t.test('a failed commit aborts the streamed zip: incomplete body, nothing served', async (t) => {
  const { big, gw, audit, agent } = await setup(t);
  const servedBefore = (await gw.metrics.bytes.get()).values.reduce((a, v) => a + v.value, 0);
  const before = audit.completions.length;
  const waiting = audit.hold();
  const res = await request(gw.url + ZIP, { dispatcher: agent });
  await waiting;
  t.equal(res.statusCode, 200);
  const { got, done } = await bytesFlowing(res);
  await until(() => got.bytes >= big.zip.length - 256 * 1024, 'all but the last chunk');
  audit.commits
    .shift()!
    .reject(new ModgateError('AUDIT_UNAVAILABLE', 'audit log unavailable: disk full'));
  await done;
  t.notOk(got.ended, 'the body never completes');
  t.ok(got.error, 'the client sees an aborted body');
  t.ok(got.bytes < big.zip.length, 'short of its Content-Length');
  await until(() => audit.completions.length === before + 1, 'the completion record');
  t.match(audit.completions[before], { outcome: 'aborted', bytes: 0 });
  const servedAfter = (await gw.metrics.bytes.get()).values.reduce((a, v) => a + v.value, 0);
  t.equal(servedAfter, servedBefore, 'no byte is counted as served');

  // The server keeps running and serves once records commit again.
  audit.release();
  const again = await request(gw.url + ZIP, { dispatcher: agent });
  t.equal(again.statusCode, 200, 'served again');
  t.ok(Buffer.from(await again.body.arrayBuffer()).equals(big.zip), 'the genuine bytes');
});

t.test('a body served from memory waits whole for its record', async (t) => {
  const { gw, audit, agent } = await setup(t);
  // The go.mod is small: held in memory and sent in one write.
  const waiting = audit.hold();
  let answered = false;
  const pending = request(gw.url + MOD, { dispatcher: agent }).then((r) => {
    answered = true;
    return r;
  });
  await waiting;
  await roundTrips(gw.url, agent, 20);
  t.notOk(answered, 'no header or byte before the record is durable');
  audit.commits.shift()!.resolve();
  const res = await pending;
  t.equal(res.statusCode, 200);
  t.ok((await res.body.text()).startsWith('module example.com/big'));

  // A failed record: 503, and no body.
  const waiting2 = audit.hold();
  const refused = request(gw.url + MOD, { dispatcher: agent });
  await waiting2;
  audit.commits.shift()!.reject(new ModgateError('AUDIT_UNAVAILABLE', 'audit log unavailable'));
  const r2 = await refused;
  t.equal(r2.statusCode, 503);
  t.match(await r2.body.text(), /AUDIT_UNAVAILABLE/);
});
