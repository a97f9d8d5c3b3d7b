/**
 * Finds where an audit log ends on disk and repairs a torn tail: bytes after
 * the last complete line (and trailing NUL-filled lines) of the last segment
 * are cut, so the chain continues from the last intact record.
 */
import { open, readFile, rm, truncate } from 'node:fs/promises';
import { ModgateError } from '../errors.js';
import { syncDir } from '../storage/atomic.js';
import { ZERO_HASH, sha256Hex } from './records.js';
import { listSegments, scanTail, type SegmentInfo } from './segments.js';

export interface RepairInfo {
  segment: string;
  offset: number;
  bytesCut: number;
  cutSha256: string;
}

export interface LogHead {
  /** Seq and hash of the last intact record (0 and zeros for an empty log). */
  seq: number;
  hash: string;
  /** The segment to continue writing, if any, with its current size. */
  segment?: SegmentInfo & { size: number };
  repair?: RepairInfo;
}

function corrupt(msg: string, details: Record<string, unknown>): ModgateError {
  return new ModgateError('AUDIT_CORRUPT', msg, details);
}

async function cutTail(seg: SegmentInfo, goodLength: number, size: number): Promise<RepairInfo> {
  const fh = await open(seg.file, 'r');
  const cut = Buffer.alloc(size - goodLength);
  try {
    await fh.read(cut, 0, cut.length, goodLength);
  } finally {
    await fh.close();
  }
  await truncate(seg.file, goodLength);
  const w = await open(seg.file, 'r+');
  try {
    await w.sync();
  } finally {
    await w.close();
  }
  return { segment: seg.name, offset: goodLength, bytesCut: cut.length, cutSha256: sha256Hex(cut) };
}

/**
 * Locates the head of the log in `dir`, repairing a torn last segment.
 * Empty trailing segments (a crash right after rotation) are kept when their
 * start seq follows the last record; any other inconsistency is AUDIT_CORRUPT.
 */
export async function locateHead(dir: string): Promise<LogHead> {
  const segments = await listSegments(dir);
  let repair: RepairInfo | undefined;
  for (let i = segments.length - 1; i >= 0; i--) {
    const seg = segments[i] as SegmentInfo;
    const scan = await scanTail(seg.file);
    if (scan.corrupt) {
      throw corrupt(
        `audit segment ${seg.name} ends in a damaged record (${scan.corrupt}); refusing to continue the chain`,
        {
          segment: seg.name,
          offset: scan.goodLength,
        },
      );
    }
    if (scan.tornBytes > 0) {
      if (i !== segments.length - 1) {
        throw corrupt(`audit segment ${seg.name} is torn but is not the last segment`, {
          segment: seg.name,
        });
      }
      repair = await cutTail(seg, scan.goodLength, scan.size);
    }
    if (!scan.last) continue;
    const head = { seq: scan.last.record.seq, hash: scan.last.hash };
    const later = segments.slice(i + 1);
    if (later.length > 1 || (later[0] && later[0].startSeq !== head.seq + 1)) {
      throw corrupt(`audit segments after ${seg.name} are empty or out of order`, {
        segments: later.map((s) => s.name),
      });
    }
    const current = later[0] ?? seg;
    const size = current === seg ? scan.goodLength : 0;
    return { ...head, segment: { ...current, size }, ...(repair ? { repair } : {}) };
  }
  if (segments.length > 1)
    throw corrupt('audit directory holds several segments but no record', {
      segments: segments.map((s) => s.name),
    });
  const only = segments[0];
  if (only && only.startSeq !== 1) {
    throw corrupt(`audit segment ${only.name} is empty but does not start at seq 1`, {
      segment: only.name,
    });
  }
  return {
    seq: 0,
    hash: ZERO_HASH,
    ...(only ? { segment: { ...only, size: 0 } } : {}),
    ...(repair ? { repair } : {}),
  };
}

/** Removes an empty segment file (used when its date is stale). */
export async function removeEmptySegment(seg: SegmentInfo, dir: string): Promise<void> {
  const content = await readFile(seg.file);
  if (content.length !== 0)
    throw new ModgateError('AUDIT_CORRUPT', `segment ${seg.name} is not empty`);
  await rm(seg.file);
  await syncDir(dir);
}
