/**
 * The audit chain in a folder: segment files appended with one fsync per
 * batch, checkpoints in checkpoints/<seq>.note (see docs/audit.md, Files).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ModgateError } from '../errors.js';
import {
  CHECKPOINT_DIR,
  listCheckpointFiles,
  writeCheckpointFile,
  type Checkpoint,
} from './checkpoint.js';
import { ChainLock } from './chain-lock.js';
import { locateHead } from './head.js';
import { removeExpiredSegments, type RetentionResult } from './retention.js';
import type { ChainLine, ChainStore, RetentionRequest, StoredHead } from './store.js';
import { SegmentWriter } from './writer.js';

export interface FsStoreOptions {
  dir: string;
  /** Rotate when a segment reaches this size (default 64 MiB). */
  maxSegmentBytes?: number;
  now: () => Date;
  /** The writing process's replica id (a worker's chain): its checkpoints name it. */
  replica?: string;
}

export class FsChainStore implements ChainStore {
  readonly label: string;
  readonly replica?: string;
  readonly stats = { fsyncs: 0, segments: 0 };
  private readonly writer: SegmentWriter;
  private readonly lock: ChainLock | undefined;

  constructor(private readonly opts: FsStoreOptions) {
    this.label = opts.dir;
    if (opts.replica) {
      this.replica = opts.replica;
      this.lock = new ChainLock(opts.dir, opts.replica);
    }
    this.writer = new SegmentWriter(
      opts.dir,
      opts.maxSegmentBytes ?? 64 << 20,
      opts.now,
      this.stats,
    );
  }

  get syncs(): number {
    return this.stats.fsyncs;
  }

  get segments(): number {
    return this.stats.segments;
  }

  async attach(): Promise<StoredHead> {
    const dir = this.opts.dir;
    await mkdir(path.join(dir, CHECKPOINT_DIR), { recursive: true });
    await this.lock?.take();
    const head = await locateHead(dir);
    const lastCp = (await listCheckpointFiles(dir)).at(-1)?.seq ?? 0;
    if (lastCp > head.seq) {
      throw new ModgateError(
        'AUDIT_CORRUPT',
        `audit log ends at seq ${head.seq} but checkpoint ${lastCp} exists`,
        { seq: head.seq, checkpoint: lastCp },
      );
    }
    await this.writer.attach(head.segment);
    return {
      seq: head.seq,
      hash: head.hash,
      checkpointSeq: lastCp,
      ...(head.repair ? { repair: head.repair } : {}),
    };
  }

  write(lines: ChainLine[]): Promise<void> {
    return this.writer.write(lines.map((l) => ({ seq: l.seq, line: `${l.line}\n` })));
  }

  async writeCheckpoint(cp: Checkpoint): Promise<void> {
    await writeCheckpointFile(this.opts.dir, cp);
  }

  removeExpired(req: RetentionRequest): Promise<RetentionResult> {
    return removeExpiredSegments({
      dir: this.opts.dir,
      days: req.days,
      now: req.now,
      currentStartSeq: this.writer.currentStartSeq ?? req.nextSeq,
      checkpointSeq: req.checkpointSeq,
      append: req.append,
    });
  }

  detach(): Promise<void> {
    return this.writer.detach();
  }

  async close(): Promise<void> {
    await this.writer.detach();
    await this.lock?.release();
  }
}
