/**
 * Where one audit chain lives. AuditLog (log.ts) owns the chain logic (seq,
 * prev, group commit, checkpoint timing); a store only keeps the bytes: the
 * fs store in segment files (fs-store.ts), the PostgreSQL store in rows keyed
 * by (replica, seq) (pg-store.ts).
 */
import type { Checkpoint } from './checkpoint.js';
import type { RepairInfo } from './head.js';
import type { AuditEntry, AuditRecord } from './records.js';
import type { RetentionResult } from './retention.js';

export interface StoredHead {
  /** Seq and hash of the last intact record (0 and 64 zeros for an empty chain). */
  seq: number;
  hash: string;
  /** Highest seq a stored checkpoint covers (0 when none). */
  checkpointSeq: number;
  /** Set when a torn tail was cut (fs): becomes a 'repair' record. */
  repair?: RepairInfo;
}

export interface ChainLine {
  seq: number;
  /** The canonical record, without a newline. */
  line: string;
  /** SHA-256 hex of `line`. */
  hash: string;
  time: string;
}

export interface RetentionRequest {
  days: number;
  now: Date;
  /** Highest seq covered by a signed checkpoint. */
  checkpointSeq: number;
  /** Next seq the log will assign (records at or after it are in flight). */
  nextSeq: number;
  append: (e: AuditEntry) => Promise<AuditRecord>;
}

export interface ChainStore {
  /** Names the chain in messages: a folder, or a replica of a database. */
  readonly label: string;
  /** The replica whose chain this is (database stores); checkpoints name it. */
  readonly replica?: string;
  /**
   * Finds the chain's head (repairing what a crash may have left, checking the
   * tail against the newest checkpoint). Throws AUDIT_CORRUPT when the stored
   * chain is damaged; any other error makes the log unhealthy until a retry.
   */
  attach(): Promise<StoredHead>;
  /** Stores the lines (in seq order); resolves once they are durable. */
  write(lines: ChainLine[]): Promise<void>;
  /** Stores a signed checkpoint, atomically. */
  writeCheckpoint(cp: Checkpoint): Promise<void>;
  /** Deletes whole expired ranges that a checkpoint covers (see retention.ts). */
  removeExpired(req: RetentionRequest): Promise<RetentionResult>;
  /** Lets go of open handles after a failure; attach() may follow. */
  detach(): Promise<void>;
  /** Final release at close(). */
  close(): Promise<void>;
  /** Durable writes performed (fsyncs or commits), for stats and tests. */
  readonly syncs: number;
  /** Segment files started (fs only). */
  readonly segments?: number;
}
