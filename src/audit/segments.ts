/**
 * Segment files of an audit directory: audit-<startSeq>-<YYYY-MM-DD>.jsonl,
 * listing, streaming line reads and the tail scan used on open.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ModgateError } from '../errors.js';
import { MAX_RECORD_BYTES, parseRecordLine, type AuditRecord } from './records.js';

export interface SegmentInfo {
  file: string;
  name: string;
  startSeq: number;
  date: string;
}

const SEGMENT_RE = /^audit-(\d{1,16})-(\d{4}-\d{2}-\d{2})\.jsonl$/;

export function segmentName(startSeq: number, date: string): string {
  return `audit-${String(startSeq).padStart(12, '0')}-${date}.jsonl`;
}

export function utcDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function parseSegmentName(name: string): { startSeq: number; date: string } | null {
  const m = SEGMENT_RE.exec(name);
  if (!m) return null;
  const startSeq = Number(m[1]);
  return Number.isSafeInteger(startSeq) && startSeq >= 1
    ? { startSeq, date: m[2] as string }
    : null;
}

/**
 * Readers (verify, query, report, export) need the folder to exist: a missing
 * one is a wrong path, not an empty trail, so it is refused by name.
 */
export async function assertAuditDir(dir: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ENOENT')
      throw new ModgateError(
        'AUDIT_DIR_MISSING',
        `no audit trail at ${dir}: the folder does not exist (pass --data DIR of the gateway, --audit-dir DIR, or set audit.dir)`,
        { dir },
      );
    throw new ModgateError('AUDIT_DIR_UNREADABLE', `cannot read the audit folder ${dir}: ${code}`, {
      dir,
    });
  }
  if (!isDir)
    throw new ModgateError(
      'AUDIT_DIR_MISSING',
      `${dir} is not a folder (expected an audit trail)`,
      {
        dir,
      },
    );
}

/** Segments of `dir` in seq order (files not named like segments are ignored). */
export async function listSegments(dir: string): Promise<SegmentInfo[]> {
  const names = await readdir(dir);
  const out: SegmentInfo[] = [];
  for (const name of names) {
    const p = parseSegmentName(name);
    if (p) out.push({ file: path.join(dir, name), name, ...p });
  }
  return out.sort((a, b) => a.startSeq - b.startSeq);
}

export interface Line {
  text: string;
  /** 1-based line number in the segment. */
  line: number;
  /** Byte offset of the line's start. */
  offset: number;
  /** False only for a last line without a trailing newline. */
  complete: boolean;
}

/** Streams the lines of a file (up to its size when opened) with their numbers and byte offsets. */
export async function* readLines(file: string): AsyncGenerator<Line> {
  const fh = await open(file, 'r');
  let size: number;
  try {
    size = (await fh.stat()).size;
  } finally {
    await fh.close();
  }
  if (size === 0) return;
  const input = createReadStream(file, { end: size - 1 });
  const rl = createInterface({ input, crlfDelay: Infinity });
  let offset = 0;
  let n = 0;
  try {
    for await (const text of rl) {
      n++;
      const len = Buffer.byteLength(text) + 1;
      yield { text, line: n, offset, complete: offset + len <= size };
      offset += len;
    }
  } finally {
    rl.close();
    input.destroy();
  }
}

export interface TailScan {
  /** Last intact record of the segment, if any. */
  last?: { record: AuditRecord; hash: string };
  /** Length of the intact prefix of the file. */
  goodLength: number;
  size: number;
  /** Bytes after goodLength (a torn write). */
  tornBytes: number;
  /** Set when the last complete line is not a record and does not look like a torn write. */
  corrupt?: string;
}

/**
 * Looks at the end of a segment: bytes after the last newline are a torn
 * write, and so are trailing complete lines holding NUL bytes (unwritten
 * blocks after a crash). Only the tail window is read.
 */
export async function scanTail(file: string): Promise<TailScan> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const window = Math.min(size, 2 * MAX_RECORD_BYTES + 2);
    const buf = Buffer.alloc(window);
    if (window > 0) await fh.read(buf, 0, window, size - window);
    let end = buf.lastIndexOf(0x0a) + 1;
    for (;;) {
      if (end === 0) {
        const atStart = window === size;
        return {
          goodLength: atStart ? 0 : size - window,
          size,
          tornBytes: atStart ? size : window,
          ...(atStart ? {} : { corrupt: 'no complete line in tail window' }),
        };
      }
      const start = end < 2 ? 0 : buf.lastIndexOf(0x0a, end - 2) + 1;
      const slice = buf.subarray(start, end - 1);
      if (start === 0 && window < size)
        return {
          goodLength: size - window,
          size,
          tornBytes: window,
          corrupt: 'tail line too long',
        };
      const parsed = parseRecordLine(slice.toString('utf8'));
      const goodLength = size - window + end;
      if (!('error' in parsed))
        return { last: parsed, goodLength, size, tornBytes: size - goodLength };
      if (!slice.includes(0))
        return { goodLength, size, tornBytes: size - goodLength, corrupt: parsed.error };
      end = start;
    }
  } finally {
    await fh.close();
  }
}
