import t, { type Test } from 'tap';
import {
  appendFile,
  chmod,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { isModgateError } from '../../src/errors.js';
import { loadOrCreateAuditKey, openCheckpoint, readAuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import {
  ZERO_HASH,
  recordHash,
  type AuditEntry,
  type AuditRecord,
  type DecisionEntry,
} from '../../src/audit/records.js';
import { listSegments } from '../../src/audit/segments.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { testdir } from '../helpers/testdir.js';

function decision(i: number, over: Partial<DecisionEntry> = {}): DecisionEntry {
  return {
    type: 'decision',
    time: new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString(),
    requestId: `req-${i}`,
    client: { id: `client-${i % 3}`, method: 'mtls', groups: ['dev'], address: '10.0.0.1' },
    kind: 'zip',
    module: `example.com/mod${i % 5}`,
    version: `v1.0.${i}`,
    decision: 'allow',
    codes: [],
    policyRevision: 'p1',
    cache: 'miss',
    ...over,
  };
}

async function lines(dir: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (const s of await listSegments(dir)) {
    const text = await readFile(s.file, 'utf8');
    for (const l of text.split('\n')) if (l) out.push(JSON.parse(l) as AuditRecord);
  }
  return out;
}

async function setup(
  t: Test,
): Promise<{ dir: string; key: Awaited<ReturnType<typeof loadOrCreateAuditKey>> }> {
  const root = testdir(t);
  const key = await loadOrCreateAuditKey(path.join(root, 'keys', 'audit.key'));
  return { dir: path.join(root, 'audit'), key };
}

t.test('records are chained and checkpoints sign the head', async (t) => {
  const { dir, key } = await setup(t);
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  t.equal(log.healthy, true);
  const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(decision(i))));
  t.same(
    acks.map((r) => r.seq),
    Array.from({ length: 20 }, (_, i) => i + 2),
    'seq follows the start record, in call order',
  );
  const cp = await log.checkpoint();
  t.ok(cp);
  t.equal(
    await log.checkpoint(),
    undefined,
    'no new checkpoint when only the checkpoint record is new',
  );
  await log.close();
  const recs = await lines(dir);
  t.equal(recs[0]?.prev, ZERO_HASH);
  t.equal(recs[0]?.seq, 1);
  t.match(recs[0], { type: 'system', event: 'start' });
  for (let i = 1; i < recs.length; i++) {
    t.equal(recs[i]?.seq, i + 1);
    t.equal(recs[i]?.prev, recordHash(recs[i - 1] as object), `prev of ${i + 1}`);
  }
  t.match(recs.at(-1), { type: 'system', event: 'stop' });
  const body = openCheckpoint(cp?.note ?? '', key.verifierKey);
  t.equal(body.seq, 21);
  t.equal(body.hash, recordHash(recs[20] as object));
  t.match(cp?.note.toString(), /^modgate audit log v1\n21\n[A-Za-z0-9+/]{43}=\n\n— modgate-audit /);
  const files = await readdir(path.join(dir, 'checkpoints'));
  t.same(
    files.sort(),
    ['21.note', `${recs.length}.note`].sort(),
    'periodic and final checkpoint files',
  );
  const final = openCheckpoint(
    await readFile(path.join(dir, 'checkpoints', `${recs.length}.note`)),
    key.verifierKey,
  );
  t.equal(final.hash, recordHash(recs.at(-1) as object), 'close checkpoints the stop record');
  await t.rejects(log.append(decision(99)), { code: 'AUDIT_CLOSED' });
  const v = await verifyAudit({ dir, verifierKey: key.verifierKey });
  t.equal(v.ok, true);
  t.equal(v.records, recs.length);
  t.equal(v.checkpoints, 2);
  t.equal(v.unsigned, 0);
});

t.test('reopening continues the chain', async (t) => {
  const { dir, key } = await setup(t);
  let log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  await log.append(decision(1));
  await log.close();
  log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  const r = await log.append(decision(2));
  t.equal(r.seq, 5, 'start, decision, stop, start, decision');
  await log.close();
  const recs = await lines(dir);
  t.equal(recs[3]?.prev, recordHash(recs[2] as object));
  t.ok((await verifyAudit({ dir, verifierKey: key.verifierKey })).ok);
});

t.test('group commit: concurrent appends share fsyncs', async (t) => {
  const { dir, key } = await setup(t);
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  const before = log.stats.fsyncs;
  await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append(decision(i))));
  const used = log.stats.fsyncs - before;
  t.ok(used >= 1 && used <= 10, `1000 appends used ${used} fsyncs`);
  await log.close();
  t.equal((await lines(dir)).length, 1002, 'start, 1000 decisions, stop');
});

t.test('a commit window gathers appends arriving over time', async (t) => {
  const { dir, key } = await setup(t);
  // A window far longer than the gaps: a busy machine stretched 2 ms sleeps
  // past a 30 ms window. The gaps are turns of the event loop, not timers.
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0, commitWindowMs: 1000 });
  const before = log.stats.fsyncs;
  const ps: Promise<unknown>[] = [];
  for (let i = 0; i < 5; i++) {
    ps.push(log.append(decision(i)));
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(ps);
  t.equal(log.stats.fsyncs - before, 1);
  await log.close();
});

t.test('a torn last line is cut and recorded', async (t) => {
  const { dir, key } = await setup(t);
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  for (let i = 0; i < 3; i++) await log.append(decision(i));
  await log.close();
  const [seg] = await listSegments(dir);
  const torn = '{"cache":"miss","client":{"addr';
  await appendFile(seg?.file ?? '', torn);
  const sizeBefore = (await stat(seg?.file ?? '')).size;
  const log2 = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  await log2.close();
  const recs = await lines(dir);
  const repair = recs.find((r) => r.type === 'system' && r.event === 'repair');
  t.match(repair, { details: { bytesCut: torn.length, offset: sizeBefore - torn.length } });
  t.equal(repair?.seq, 6, 'repair follows the last intact record');
  t.equal(repair?.prev, recordHash(recs[4] as object));
  t.ok((await verifyAudit({ dir, verifierKey: key.verifierKey })).ok);
});

t.test('trailing NUL-filled lines are cut too; a damaged line is refused', async (t) => {
  const { dir, key } = await setup(t);
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  await log.append(decision(1));
  await log.close();
  const [seg] = await listSegments(dir);
  await appendFile(
    seg?.file ?? '',
    Buffer.concat([Buffer.alloc(40), Buffer.from('\n'), Buffer.alloc(7)]),
  );
  const log2 = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  await log2.close();
  const repair = (await lines(dir)).find((r) => r.type === 'system' && r.event === 'repair');
  t.match(repair, { details: { bytesCut: 48 } });
  await appendFile(seg?.file ?? '', '{"not":"a record"}\n');
  await t.rejects(AuditLog.open({ dir, key, checkpointIntervalSec: 0 }), { code: 'AUDIT_CORRUPT' });
});

t.test('a log shorter than its newest checkpoint is refused on open', async (t) => {
  const { dir, key } = await setup(t);
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  await log.append(decision(1));
  await log.close();
  await writeFile(path.join(dir, 'checkpoints', '999.note'), 'x');
  await t.rejects(AuditLog.open({ dir, key, checkpointIntervalSec: 0 }), { code: 'AUDIT_CORRUPT' });
});

t.test('unwritable directory: unhealthy, appends reject with AUDIT_UNAVAILABLE', async (t) => {
  const root = testdir(t, { file: 'not a directory' });
  const key = await loadOrCreateAuditKey(path.join(root, 'k'));
  const errors: unknown[] = [];
  const log = await AuditLog.open({
    dir: path.join(root, 'file', 'audit'),
    key,
    checkpointIntervalSec: 0,
    onError: (e) => errors.push(e),
  });
  t.equal(log.healthy, false);
  t.equal(log.lastError?.code, 'AUDIT_UNAVAILABLE');
  await t.rejects(log.append(decision(1)), { code: 'AUDIT_UNAVAILABLE' });
  t.ok(errors.length >= 1);
  await log.close();
});

t.test(
  'disk full while running: the batch rejects, the log turns unhealthy, then recovers',
  async (t) => {
    const { dir, key } = await setup(t);
    const log = await AuditLog.open({
      dir,
      key,
      checkpointIntervalSec: 0,
      maxSegmentBytes: 100,
      retryAfterMs: 0,
      now: () => new Date('2024-01-01T00:00:00Z'),
    });
    await log.append(decision(1));
    // The next rotation lands on a segment that is /dev/full.
    const recs = await lines(dir);
    const next = recs.length + 1;
    await symlink(
      '/dev/full',
      path.join(dir, `audit-${String(next).padStart(12, '0')}-2024-01-01.jsonl`),
    );
    const results = await Promise.allSettled([log.append(decision(2)), log.append(decision(3))]);
    t.same(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    t.ok(
      results.every(
        (r) => r.status === 'rejected' && isModgateError(r.reason, 'AUDIT_UNAVAILABLE'),
      ),
    );
    t.equal(log.healthy, false);
    t.match(log.lastError?.details, { cause: 'ENOSPC' });
    await t.rejects(
      log.append(decision(4)),
      { code: 'AUDIT_UNAVAILABLE' },
      'still failing while the disk is full',
    );
    await rm(path.join(dir, `audit-${String(next).padStart(12, '0')}-2024-01-01.jsonl`));
    const r = await log.append(decision(5));
    t.equal(log.healthy, true, 'recovered once space is back');
    t.equal(
      r.seq,
      next + 1,
      'rejected records were never written; the chain continues after the recovered record',
    );
    await log.close();
    const after = await lines(dir);
    t.match(after[next - 1], { seq: next, type: 'system', event: 'recovered' });
    t.ok((await verifyAudit({ dir, verifierKey: key.verifierKey })).ok);
    await t.rejects(log.append(decision(6)), { code: 'AUDIT_CLOSED' });
  },
);

t.test('segments rotate by size and by date', async (t) => {
  const { dir, key } = await setup(t);
  let now = new Date('2024-03-01T10:00:00Z');
  const log = await AuditLog.open({
    dir,
    key,
    checkpointIntervalSec: 0,
    maxSegmentBytes: 2000,
    now: () => now,
  });
  for (let i = 0; i < 12; i++) await log.append(decision(i));
  now = new Date('2024-03-02T00:00:01Z');
  const day2 = await log.append(decision(100));
  await log.close();
  const segs = await listSegments(dir);
  t.ok(segs.length >= 4, `${segs.length} segments`);
  for (const s of segs) t.ok((await stat(s.file)).size <= 2000, `${s.name} within the size limit`);
  t.same([...new Set(segs.map((s) => s.date))], ['2024-03-01', '2024-03-02']);
  const recs = await lines(dir);
  t.equal(segs.at(-1)?.startSeq, day2.seq, 'the new day starts a new segment');
  const v = await verifyAudit({ dir, verifierKey: key.verifierKey });
  t.equal(v.ok, true);
  t.equal(v.records, recs.length);
});

t.test('invalid records are refused without breaking the chain', async (t) => {
  const { dir, key } = await setup(t);
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  await t.rejects(log.append({ type: 'nope' } as unknown as AuditEntry), {
    code: 'AUDIT_RECORD_INVALID',
  });
  await t.rejects(log.append(decision(1, { upstream: 'x'.repeat(1 << 21) })), {
    code: 'AUDIT_RECORD_INVALID',
  });
  await t.rejects(log.append({ type: 'security', event: 'X', details: { n: Number.NaN } }), {
    code: 'AUDIT_RECORD_INVALID',
  });
  const r = await log.append(decision(2));
  t.equal(r.seq, 2);
  await log.close();
  t.ok((await verifyAudit({ dir, verifierKey: key.verifierKey })).ok);
});

t.test('audit key: created 0600 once, reused, insecure or mismatched keys refused', async (t) => {
  const root = testdir(t);
  const file = path.join(root, 'sub', 'audit.key');
  const k1 = await loadOrCreateAuditKey(file, 'gw1');
  t.equal(k1.created, true);
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.match(k1.verifierKey, /^gw1\+[0-9a-f]{8}\+/);
  const k2 = await loadOrCreateAuditKey(file, 'gw1');
  t.equal(k2.created, false);
  t.equal(k2.verifierKey, k1.verifierKey);
  await chmod(file, 0o644);
  await t.rejects(readAuditKey(file), { code: 'AUDIT_KEY_INSECURE' });
  const other = await loadOrCreateAuditKey(path.join(root, 'other.key'), 'gw1');
  const [signer] = (await readFile(file, 'utf8')).split('\n');
  const mixed = path.join(root, 'mixed.key');
  await writeFile(mixed, `${signer}\n${other.verifierKey}\n`, { mode: 0o600 });
  await t.rejects(readAuditKey(mixed), { code: 'AUDIT_KEY_INVALID' });
});

function completion(i: number): AuditEntry {
  return {
    type: 'completion',
    requestId: `req-${i}`,
    outcome: 'complete',
    bytes: 1,
    durationMs: 1,
    status: 200,
  };
}

t.test('lazy records start no write of their own and go with the next awaited one', async (t) => {
  const { dir, key } = await setup(t);
  // A lazy window far longer than the test: only the urgent record can write them.
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0, lazyWindowMs: 600_000 });
  const before = log.stats.fsyncs;
  let lazyDone = false;
  const lazy = log.append(completion(1), true).then(() => (lazyDone = true));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.equal(log.stats.fsyncs - before, 0, 'no write for a lazy record alone');
  t.notOk(lazyDone, 'not durable yet');
  const urgent = await log.append(decision(2));
  await lazy;
  t.equal(log.stats.fsyncs - before, 1, 'one durable write took both');
  t.ok(urgent.seq > 0);
  const recs = await lines(dir);
  t.same(
    recs.slice(-2).map((r) => r.type),
    ['completion', 'decision'],
    'the chain keeps the order of appends',
  );
  await log.close();
});

t.test('a lazy record alone is written after the lazy window', async (t) => {
  const { dir, key } = await setup(t);
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0, lazyWindowMs: 5 });
  const rec = await log.append(completion(1), true);
  t.equal(log.head.seq, rec.seq, 'durable without any other append');
  await log.close();
});

t.test('close writes a waiting lazy record', async (t) => {
  const { dir, key } = await setup(t);
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0, lazyWindowMs: 600_000 });
  const p = log.append(completion(2), true);
  await log.close();
  await p;
  t.same(
    (await lines(dir)).map((r) => r.type),
    ['system', 'completion', 'system'],
    'start, the lazy completion, stop',
  );
});
