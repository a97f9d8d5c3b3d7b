/**
 * The append-only, hash-chained audit log (see docs/audit.md).
 *
 * Error codes:
 * | code                     | meaning                                                         |
 * |--------------------------|-----------------------------------------------------------------|
 * | AUDIT_UNAVAILABLE        | the log cannot be written (unwritable directory, disk full, ...) |
 * | AUDIT_CLOSED             | append after close()                                            |
 * | AUDIT_CORRUPT            | the log on disk is damaged or shorter than a checkpoint          |
 * | AUDIT_RECORD_INVALID     | the record cannot be serialized, or is too large                 |
 * | AUDIT_CHECKPOINT_INVALID | a checkpoint note's text is malformed                            |
 * | AUDIT_KEY_INVALID        | the audit key file is malformed or its keys do not pair          |
 * | AUDIT_KEY_INSECURE       | the audit key file is readable by group or others                |
 * | AUDIT_SHIP_FAILED        | a checkpoint could not be shipped                                |
 * | AUDIT_QUERY_INVALID      | a bad time argument or output format (query.ts)                  |
 */
import { ModgateError, isModgateError } from '../errors.js';
import { signCheckpoint, type Checkpoint } from './checkpoint.js';
import { FsChainStore } from './fs-store.js';
import type { RetentionResult } from './retention.js';
import { ZERO_HASH, chainRecord, sha256Hex, type AuditEntry, type AuditRecord } from './records.js';
import type { ChainStore } from './store.js';
import type { AuditLogOptions, AuditLogStats } from './log-options.js';

export type { AuditLogOptions, AuditLogStats } from './log-options.js';

interface Pending {
  /** Needs no flush of its own: written with the next durable batch, or after lazyWindowMs. */
  lazy: boolean;
  record: AuditRecord;
  /** Canonical bytes, without the newline. */
  line: string;
  hash: string;
  resolve: (r: AuditRecord) => void;
  reject: (e: unknown) => void;
}

function unavailable(err: unknown): ModgateError {
  if (isModgateError(err, 'AUDIT_UNAVAILABLE')) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  return new ModgateError(
    'AUDIT_UNAVAILABLE',
    `audit log unavailable: ${(err as Error)?.message ?? String(err)}`,
    code ? { cause: code } : {},
    { cause: err },
  );
}

export class AuditLog {
  /** The folder (fs) or the replica's chain in the database (postgres), for messages. */
  readonly dir: string;
  readonly stats: AuditLogStats = {
    records: 0,
    batches: 0,
    fsyncs: 0,
    segments: 0,
    checkpoints: 0,
  };
  private readonly opts: AuditLogOptions;
  private readonly now: () => Date;
  private readonly store: ChainStore;
  private state: 'open' | 'failed' | 'closed' = 'open';
  private error: ModgateError | undefined;
  private failedAt = 0;
  private recovering: Promise<void> | undefined;
  private nextSeq = 1;
  private headHash = ZERO_HASH;
  private durable = { seq: 0, hash: ZERO_HASH };
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  /** Records waiting that someone awaits (lazy ones wait for these, or for the lazy timer). */
  private urgent = 0;
  /** Set by the lazy timer and by drain(): the next flush takes lazy records too. */
  private flushAll = false;
  private lazyTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private timer: NodeJS.Timeout | undefined;
  private cpChain: Promise<unknown> = Promise.resolve();
  private lastCheckpointSeq = 0;
  private checkpointRecordSeq = 0;

  private constructor(opts: AuditLogOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => new Date());
    if (opts.store) this.store = opts.store;
    else if (opts.dir !== undefined)
      this.store = new FsChainStore({
        dir: opts.dir,
        now: this.now,
        ...(opts.maxSegmentBytes ? { maxSegmentBytes: opts.maxSegmentBytes } : {}),
      });
    else throw new TypeError('AuditLog needs a dir or a store');
    this.dir = this.store.label;
  }

  private syncStats(): void {
    this.stats.fsyncs = this.store.syncs;
    this.stats.segments = this.store.segments ?? 0;
  }

  /**
   * Opens (or creates) the log in opts.dir, repairs a torn tail and appends
   * the 'repair' and 'start' records. I/O failures do not throw: the log is
   * returned unhealthy and append rejects with AUDIT_UNAVAILABLE. Throws
   * AUDIT_CORRUPT when the log on disk is damaged or shorter than a checkpoint.
   */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    const log = new AuditLog(opts);
    try {
      await log.attach('start');
    } catch (err) {
      if (isModgateError(err, 'AUDIT_CORRUPT')) throw err;
      if (log.state !== 'failed') log.fail(err);
    }
    const every = opts.checkpointIntervalSec ?? 300;
    if (every > 0) {
      log.timer = setInterval(
        () => void log.checkpoint().catch((e) => log.report(e)),
        every * 1000,
      );
      log.timer.unref();
    }
    return log;
  }

  get healthy(): boolean {
    return this.state === 'open';
  }

  get lastError(): ModgateError | undefined {
    return this.error;
  }

  /** Seq and hash of the last fsynced record. */
  get head(): { seq: number; hash: string } {
    return { ...this.durable };
  }

  get checkpointedSeq(): number {
    return this.lastCheckpointSeq;
  }

  private async attach(event: 'start' | 'recovered'): Promise<void> {
    const head = await this.store.attach();
    this.lastCheckpointSeq = head.checkpointSeq;
    this.nextSeq = head.seq + 1;
    this.headHash = head.hash;
    this.durable = { seq: head.seq, hash: head.hash };
    this.state = 'open';
    this.error = undefined;
    const waits: Promise<AuditRecord>[] = [];
    if (head.repair)
      waits.push(this.enqueue({ type: 'system', event: 'repair', details: { ...head.repair } }));
    waits.push(
      this.enqueue({
        type: 'system',
        event,
        details: {
          pid: process.pid,
          node: process.version,
          resumedAfter: head.seq,
          ...this.opts.startDetails,
        },
      }),
    );
    await Promise.all(waits);
  }

  /**
   * Appends a record; resolves with the stored record once it is durable.
   * A `lazy` record (one that nothing waits for, such as an answer's
   * completion) takes its seq now but starts no write of its own: it goes
   * with the next batch that something waits for, or after lazyWindowMs. A
   * client on one connection then pays one durable write per answer, not two.
   */
  append(entry: AuditEntry, lazy = false): Promise<AuditRecord> {
    if (this.state === 'closed' || this.closing)
      return Promise.reject(new ModgateError('AUDIT_CLOSED', 'audit log is closed'));
    if (this.state === 'failed') return this.appendAfterRecovery(entry, lazy);
    return this.enqueue(entry, lazy);
  }

  private async appendAfterRecovery(entry: AuditEntry, lazy: boolean): Promise<AuditRecord> {
    if (!this.recovering && Date.now() - this.failedAt >= (this.opts.retryAfterMs ?? 5000)) {
      this.recovering = this.attach('recovered')
        .catch((err) => this.fail(err))
        .finally(() => (this.recovering = undefined));
    }
    if (this.recovering) await this.recovering;
    if (this.state !== 'open') throw this.error ?? unavailable('audit log unavailable');
    return this.enqueue(entry, lazy);
  }

  private enqueue(entry: AuditEntry, lazy = false): Promise<AuditRecord> {
    let built;
    try {
      built = chainRecord(entry, this.nextSeq, this.headHash, this.now());
    } catch (err) {
      return Promise.reject(err);
    }
    const hash = sha256Hex(built.line);
    this.nextSeq++;
    this.headHash = hash;
    if (!lazy) this.urgent++;
    return new Promise((resolve, reject) => {
      this.pending.push({ lazy, record: built.record, line: built.line, hash, resolve, reject });
      this.kick();
    });
  }

  /** Something waits for a write (an urgent record, the lazy timer, drain or close). */
  private due(): boolean {
    return this.urgent > 0 || this.flushAll || this.closing;
  }

  private kick(): void {
    if (this.flushing || this.scheduled || !this.pending.length) return;
    if (!this.due()) {
      this.lazyTimer ??= setTimeout(() => {
        this.lazyTimer = undefined;
        this.flushAll = true;
        this.kick();
      }, this.opts.lazyWindowMs ?? 50);
      return;
    }
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.flushing = this.flushLoop().finally(() => {
        this.flushing = undefined;
        if (this.pending.length) this.kick();
      });
    };
    const w = this.opts.commitWindowMs ?? 0;
    if (w > 0) setTimeout(run, w);
    else setImmediate(run);
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length && this.state === 'open' && this.due()) {
      const batch = this.pending.splice(0, this.opts.maxBatchRecords ?? 4096);
      for (const p of batch) if (!p.lazy) this.urgent--;
      if (!this.pending.length) {
        this.flushAll = false;
        if (this.lazyTimer) clearTimeout(this.lazyTimer);
        this.lazyTimer = undefined;
      }
      try {
        await this.store.write(
          batch.map((p) => ({
            seq: p.record.seq,
            line: p.line,
            hash: p.hash,
            time: p.record.time,
          })),
        );
      } catch (err) {
        this.syncStats();
        this.fail(err, batch);
        return;
      }
      this.syncStats();
      const last = batch[batch.length - 1] as Pending;
      this.durable = { seq: last.record.seq, hash: last.hash };
      this.stats.records += batch.length;
      this.stats.batches++;
      for (const p of batch) p.resolve(p.record);
    }
  }

  private fail(err: unknown, batch: Pending[] = []): void {
    const e = unavailable(err);
    this.state = 'failed';
    this.error = e;
    this.failedAt = Date.now();
    const doomed = [...batch, ...this.pending.splice(0)];
    this.urgent = 0;
    this.flushAll = false;
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    for (const p of doomed) p.reject(e);
    void this.store.detach().catch(() => undefined);
    this.report(e);
  }

  private report(err: unknown): void {
    try {
      this.opts.onError?.(isModgateError(err) ? err : unavailable(err));
    } catch {
      // A failing error callback must not break the log.
    }
  }

  /** Waits until every record appended so far is written (or rejected). */
  async drain(): Promise<void> {
    for (let i = 0; i < 100_000 && (this.pending.length || this.flushing || this.scheduled); i++) {
      if (this.pending.length) {
        this.flushAll = true;
        this.kick();
      }
      await (this.flushing ?? new Promise((r) => setImmediate(r)));
    }
  }

  /**
   * Writes a signed checkpoint of the durable head (records fsynced so far;
   * it does not wait for appends in flight) to checkpoints/<seq>.note,
   * hands it to onCheckpoint and appends a 'checkpoint' record. Returns
   * undefined when nothing new needs covering.
   */
  checkpoint(): Promise<Checkpoint | undefined> {
    const run = this.cpChain.then(() => this.checkpointNow(true));
    this.cpChain = run.catch(() => undefined);
    return run;
  }

  private async checkpointNow(withRecord: boolean): Promise<Checkpoint | undefined> {
    const { seq, hash } = this.durable;
    if (
      seq === 0 ||
      seq === this.lastCheckpointSeq ||
      (withRecord && seq === this.checkpointRecordSeq)
    )
      return undefined;
    const replica = this.store.replica;
    const cp = signCheckpoint({ seq, hash, ...(replica ? { replica } : {}) }, this.opts.key);
    await this.store.writeCheckpoint(cp);
    this.lastCheckpointSeq = seq;
    this.stats.checkpoints++;
    if (this.opts.onCheckpoint) {
      Promise.resolve()
        .then(() => this.opts.onCheckpoint?.(cp))
        .catch((e) => this.report(e));
    }
    if (withRecord && this.state === 'open' && !this.closing) {
      const r = await this.enqueue({ type: 'system', event: 'checkpoint', details: { seq, hash } });
      this.checkpointRecordSeq = r.seq;
    }
    return cp;
  }

  /** Deletes whole ranges older than `days` that a checkpoint covers (see retention.ts). */
  async removeExpired(opts: { days: number; now?: Date }): Promise<RetentionResult> {
    if (this.state !== 'open' || this.closing)
      throw this.error ?? new ModgateError('AUDIT_CLOSED', 'audit log is closed');
    await this.checkpoint();
    return this.store.removeExpired({
      days: opts.days,
      now: opts.now ?? this.now(),
      nextSeq: this.nextSeq,
      checkpointSeq: this.lastCheckpointSeq,
      append: (e) => this.append(e),
    });
  }

  /** Appends a 'stop' record, flushes, writes a final checkpoint and closes the segment. */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.closing) return;
    if (this.timer) clearInterval(this.timer);
    if (this.state === 'open')
      await this.enqueue({ type: 'system', event: 'stop', details: {} }).catch(() => undefined);
    this.closing = true;
    await this.drain();
    await this.cpChain;
    try {
      if (this.state === 'open') await this.checkpointNow(false);
    } finally {
      this.state = 'closed';
      await this.store.close();
    }
  }
}
