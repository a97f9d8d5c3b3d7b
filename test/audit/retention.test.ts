import t, { type Test } from 'tap';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { loadOrCreateAuditKey, type AuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import type { DecisionEntry } from '../../src/audit/records.js';
import { planRetention } from '../../src/audit/retention.js';
import { listSegments, type SegmentInfo } from '../../src/audit/segments.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { testdir } from '../helpers/testdir.js';

function decision(i: number): DecisionEntry {
  return {
    type: 'decision',
    time: new Date().toISOString(),
    requestId: `r${i}`,
    client: { id: 'c', method: 'token', groups: [], address: '::1' },
    kind: 'info',
    module: 'example.com/x',
    version: `v1.0.${i}`,
    decision: 'allow',
    codes: [],
    policyRevision: 'p',
    cache: 'hit',
  };
}

/** Writes records over four days (one segment per day at least). */
async function history(
  t: Test,
): Promise<{ dir: string; key: AuditKey; log: AuditLog; clock: { now: Date } }> {
  const root = testdir(t);
  const key = await loadOrCreateAuditKey(path.join(root, 'k'));
  const dir = path.join(root, 'audit');
  const clock = { now: new Date('2024-05-01T12:00:00Z') };
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0, now: () => clock.now });
  for (let day = 0; day < 4; day++) {
    clock.now = new Date(Date.UTC(2024, 4, 1 + day, 12));
    for (let i = 0; i < 5; i++) await log.append(decision(day * 10 + i));
  }
  return { dir, key, log, clock };
}

t.test('planRetention keeps the current segment and anything not checkpointed', async (t) => {
  const seg = (startSeq: number, date: string): SegmentInfo => ({
    file: `f${startSeq}`,
    name: `n${startSeq}`,
    startSeq,
    date,
  });
  const segs = [
    seg(1, '2024-01-01'),
    seg(10, '2024-01-02'),
    seg(20, '2024-01-03'),
    seg(30, '2024-01-09'),
  ];
  t.same(
    planRetention(segs, '2024-01-05', 30, 100).map((s) => s.startSeq),
    [1, 10, 20],
  );
  t.same(
    planRetention(segs, '2024-01-05', 30, 19).map((s) => s.startSeq),
    [1, 10],
    'segment 20..29 is not checkpointed',
  );
  t.same(
    planRetention(segs, '2024-01-02', 30, 100).map((s) => s.startSeq),
    [1],
    'younger segments stay',
  );
  t.same(
    planRetention(segs, '2024-01-05', 20, 100).map((s) => s.startSeq),
    [1, 10],
    'the current segment stays',
  );
  t.same(planRetention(segs.slice(0, 1), '2030-01-01', 1, 100), []);
});

t.test(
  'expired segments are removed with a chained retention record and the trail still verifies',
  async (t) => {
    const { dir, key, log, clock } = await history(t);
    const before = await listSegments(dir);
    t.equal(before.length, 4);
    clock.now = new Date('2024-05-04T13:00:00Z');
    const first = await log.removeExpired({ days: 2 });
    t.same(
      first.deleted.map((d) => d.segment),
      [before[0]?.name],
      'a segment of 2024-05-02 may hold records younger than two days',
    );
    clock.now = new Date('2024-05-05T01:00:00Z');
    const res = await log.removeExpired({ days: 2 });
    t.same(
      res.deleted.map((d) => d.segment),
      [before[1]?.name],
      'once the whole day has expired its segment goes',
    );
    t.equal(res.firstRetainedSeq, before[2]?.startSeq);
    t.match(res.record, {
      type: 'system',
      event: 'retention',
      details: { days: 2, cutoff: '2024-05-03', firstRetainedSeq: before[2]?.startSeq },
    });
    t.same(
      (await listSegments(dir)).map((s) => s.name).slice(0, 2),
      before.slice(2).map((s) => s.name),
    );
    await log.close();
    const v = await verifyAudit({ dir, verifierKey: key.verifierKey });
    t.match(v, { ok: true, firstSeq: before[2]?.startSeq });
    const cps = await readdir(path.join(dir, 'checkpoints'));
    t.ok(
      cps.every((f) => Number(f.split('.')[0]) >= (before[2]?.startSeq ?? 0) - 1),
      'checkpoints of the removed range are pruned',
    );
    // Deleting one more segment by hand is not covered by the retention record.
    await rm((await listSegments(dir))[0]?.file ?? '');
    t.match(await verifyAudit({ dir, verifierKey: key.verifierKey }), {
      ok: false,
      firstBad: { reason: /no retention record or checkpoint vouches/ },
    });
  },
);

t.test('nothing is removed when nothing expired; a closed log refuses', async (t) => {
  const { dir, log, clock } = await history(t);
  clock.now = new Date('2024-05-04T13:00:00Z');
  t.same((await log.removeExpired({ days: 30 })).deleted, []);
  t.equal((await listSegments(dir)).length, 4);
  await log.close();
  await t.rejects(log.removeExpired({ days: 1 }), { code: 'AUDIT_CLOSED' });
});
