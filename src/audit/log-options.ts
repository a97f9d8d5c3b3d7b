/** Options and counters of AuditLog (src/audit/log.ts). */
import type { ModgateError } from '../errors.js';
import type { AuditKey, Checkpoint } from './checkpoint.js';
import type { ChainStore } from './store.js';

export interface AuditLogOptions {
  /** The folder of an fs chain (ignored when `store` is given). */
  dir?: string;
  /** Where the chain lives (default: an fs store in `dir`). */
  store?: ChainStore;
  key: AuditKey;
  /** fs: rotate when a segment reaches this size (default 64 MiB). */
  maxSegmentBytes?: number;
  /** Seconds between periodic checkpoints (default 300; 0 disables the timer). */
  checkpointIntervalSec?: number;
  /** Extra time to gather a batch before writing (default 0: the next event-loop turn). */
  commitWindowMs?: number;
  maxBatchRecords?: number;
  /** Longest a lazy record (an answer's completion) waits for a batch to go with (default 50). */
  lazyWindowMs?: number;
  /** After a write failure, the next append retries opening the log after this delay (default 5000). */
  retryAfterMs?: number;
  onCheckpoint?: (cp: Checkpoint) => void | Promise<void>;
  onError?: (err: ModgateError) => void;
  now?: () => Date;
  /** Extra fields for the 'start' system record (e.g. version). */
  startDetails?: Record<string, unknown>;
}

export interface AuditLogStats {
  records: number;
  batches: number;
  fsyncs: number;
  segments: number;
  checkpoints: number;
}
