/**
 * The contract every audit ChainStore passes through AuditLog (fs and
 * PostgreSQL): group commit, durable acknowledgements, a chain that continues
 * across restarts, checkpoints that cover the head and bind to the chain,
 * retention that still verifies, and a verifier that catches an edit.
 */
import type { Test } from 'tap';
import type { AuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import type { AuditLogOptions } from '../../src/audit/log-options.js';
import type { AuditRecord, DecisionEntry } from '../../src/audit/records.js';
import type { ChainStore } from '../../src/audit/store.js';

export interface ChainUnderTest {
  key: AuditKey;
  /** A fresh store over the same chain (a restart), on the log's clock. */
  store(now: () => Date): ChainStore;
  /** Verifies the stored chain with the key's verifier key. */
  verify(): Promise<{
    ok: boolean;
    records: number;
    checkpoints: number;
    firstBad?: { seq: number };
  }>;
  /** Every stored record, in seq order. */
  records(): Promise<AuditRecord[]>;
  /** Rewrites the stored bytes of record `seq` (an attacker with write access). */
  edit(seq: number, change: (line: string) => string): Promise<void>;
}

export function entry(i: number, time = new Date().toISOString()): DecisionEntry {
  return {
    type: 'decision',
    time,
    requestId: `req-${i}`,
    client: { id: 'ci', method: 'bearer', groups: [], address: '127.0.0.1' },
    kind: 'zip',
    module: `example.com/m${i % 5}`,
    version: `v1.0.${i}`,
    decision: 'allow',
    codes: [],
    policyRevision: 'p1',
    cache: 'miss',
  };
}

export function chainStoreContract(
  t: Test,
  name: string,
  make: (t: Test) => Promise<ChainUnderTest>,
): void {
  const open = (c: ChainUnderTest, extra: Partial<AuditLogOptions> = {}) =>
    AuditLog.open({
      store: c.store(extra.now ?? (() => new Date())),
      key: c.key,
      checkpointIntervalSec: 0,
      ...extra,
    });

  t.test(
    `${name}: concurrent appends are group-committed and acknowledged in chain order`,
    async (t) => {
      const c = await make(t);
      const log = await open(c);
      t.equal(log.healthy, true, String(log.lastError?.message));
      const acks = await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
      t.same(
        acks.map((r) => r.seq),
        Array.from({ length: 300 }, (_, i) => i + 2),
        'seqs follow call order after the start record',
      );
      t.ok(log.stats.batches < 300, `${log.stats.batches} batches for 301 records`);
      t.ok(log.stats.fsyncs >= 1 && log.stats.fsyncs < 300, `${log.stats.fsyncs} durable writes`);
      const stored = await c.records();
      const ids = new Set(stored.map((r) => ('requestId' in r ? r.requestId : '')));
      t.ok(
        acks.every((a) => ids.has((a as { requestId: string }).requestId)),
        'every ack is stored',
      );
      await log.close();
      t.match(await c.verify(), { ok: true, records: 302 });
    },
  );

  t.test(`${name}: a restart continues the chain from the stored head`, async (t) => {
    const c = await make(t);
    const a = await open(c);
    for (let i = 0; i < 5; i++) await a.append(entry(i));
    await a.checkpoint();
    await a.append(entry(5));
    const headBefore = a.head;
    await a.close();
    const b = await open(c);
    t.equal(b.checkpointedSeq > 0, true, 'the newest checkpoint is found again');
    const r = await b.append(entry(6));
    await b.close();
    const recs = await c.records();
    const start = recs.find((x) => x.type === 'system' && x.event === 'start' && x.seq > 1);
    t.match(start, { details: { resumedAfter: headBefore.seq + 1 } }, 'after the stop record');
    t.equal(r.seq, recs.length - 1, 'appended before the final stop record');
    const v = await c.verify();
    t.match(v, { ok: true, records: recs.length });
    t.ok(v.checkpoints >= 2, `${v.checkpoints} checkpoints`);
  });

  t.test(`${name}: an edited record is caught at its seq`, async (t) => {
    const c = await make(t);
    const log = await open(c);
    for (let i = 0; i < 8; i++) await log.append(entry(i));
    await log.close();
    await c.edit(4, (l) => l.replace('"decision":"allow"', '"decision":"deny"'));
    const v = await c.verify();
    t.equal(v.ok, false);
    t.equal(v.firstBad?.seq, 4);
  });

  t.test(
    `${name}: retention deletes checkpointed old records and the chain still verifies`,
    async (t) => {
      const c = await make(t);
      const old = new Date(Date.now() - 40 * 86_400_000);
      const log = await open(c, { now: () => old });
      for (let i = 0; i < 20; i++) await log.append(entry(i, old.toISOString()));
      await log.checkpoint();
      await log.close();
      const now = await open(c);
      for (let i = 20; i < 25; i++) await now.append(entry(i));
      const res = await now.removeExpired({ days: 30 });
      t.ok(res.deleted.length >= 1, 'something expired');
      t.ok((res.firstRetainedSeq ?? 0) > 1);
      await now.close();
      const recs = await c.records();
      t.equal(recs[0]?.seq, res.firstRetainedSeq, 'the chain starts at the first retained record');
      t.match(await c.verify(), { ok: true });
    },
  );
}
