/**
 * Appends batches of lines to the current segment, durably: segments are
 * opened with O_DSYNC, so each write returns once its data is on disk (one
 * system call per batch instead of a write and an fdatasync). Rotates to a
 * new segment by size or when the UTC date changes.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { syncDir } from '../storage/atomic.js';
import { removeEmptySegment } from './head.js';
import { segmentName, utcDate, type SegmentInfo } from './segments.js';

/** Append, create, and durable on return of every write (data and the size it needs). */
const DURABLE_APPEND =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_DSYNC ?? 0);
/** Where O_DSYNC is unknown, each batch is followed by an fdatasync. */
const NEEDS_DATASYNC = constants.O_DSYNC === undefined;

interface Current {
  info: SegmentInfo;
  fh: FileHandle;
  size: number;
}

export interface WriterStats {
  fsyncs: number;
  segments: number;
}

export class SegmentWriter {
  private cur: Current | undefined;
  private attached: (SegmentInfo & { size: number }) | undefined;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly now: () => Date,
    private readonly stats: WriterStats,
  ) {}

  get currentStartSeq(): number | undefined {
    return this.cur?.info.startSeq ?? this.attached?.startSeq;
  }

  /** Continues `segment` (opened lazily at the next write), or starts fresh. */
  async attach(segment: (SegmentInfo & { size: number }) | undefined): Promise<void> {
    await this.detach();
    this.attached = segment;
  }

  async detach(): Promise<void> {
    const c = this.cur;
    this.cur = undefined;
    if (c) await c.fh.close().catch(() => undefined);
  }

  /** Writes the lines (in seq order), durably; rejects on any I/O error. */
  async write(lines: { seq: number; line: string }[]): Promise<void> {
    let i = 0;
    while (i < lines.length) {
      const first = lines[i] as { seq: number; line: string };
      const cur = await this.segmentFor(first.seq, Buffer.byteLength(first.line));
      const parts: Buffer[] = [];
      let bytes = 0;
      for (; i < lines.length; i++) {
        const b = Buffer.from((lines[i] as { line: string }).line, 'utf8');
        if (parts.length > 0 && cur.size + bytes + b.length > this.maxBytes) break;
        parts.push(b);
        bytes += b.length;
      }
      await writeAll(cur.fh, Buffer.concat(parts, bytes));
      cur.size += bytes;
    }
    if (this.cur) {
      if (NEEDS_DATASYNC) await this.cur.fh.datasync();
      this.stats.fsyncs++;
    }
  }

  private async segmentFor(seq: number, firstLen: number): Promise<Current> {
    const date = utcDate(this.now());
    if (!this.cur && this.attached) {
      const a = this.attached;
      this.attached = undefined;
      if (a.size === 0 && a.date !== date) await removeEmptySegment(a, this.dir);
      else this.cur = { info: a, fh: await open(a.file, DURABLE_APPEND, 0o640), size: a.size };
    }
    const cur = this.cur;
    if (cur && (cur.size === 0 || (cur.size + firstLen <= this.maxBytes && cur.info.date === date)))
      return cur;
    if (cur) {
      if (NEEDS_DATASYNC) {
        await cur.fh.datasync();
        this.stats.fsyncs++;
      }
      await this.detach();
    }
    const name = segmentName(seq, date);
    const file = path.join(this.dir, name);
    const fh = await open(file, DURABLE_APPEND, 0o640);
    await syncDir(this.dir);
    this.stats.segments++;
    this.cur = { info: { file, name, startSeq: seq, date }, fh, size: 0 };
    return this.cur;
  }
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  for (let guard = 0; off < buf.length && guard < 1_000_000; guard++) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}
