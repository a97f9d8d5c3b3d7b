/**
 * Retention: whole segments older than N days are deleted, oldest first,
 * only when a signed checkpoint covers their last record and never the
 * segment being written. Before deleting, a 'retention' system record is
 * appended (and fsynced) naming the deleted segments and the first retained
 * record's seq and prev; verifyAudit accepts a log that starts after seq 1
 * only when such a record (or a checkpoint at seq-1) vouches for its start.
 */
import { rm } from 'node:fs/promises';
import { syncDir } from '../storage/atomic.js';
import { pruneCheckpoints } from './checkpoint.js';
import { parseRecordLine, type AuditEntry, type AuditRecord } from './records.js';
import { listSegments, readLines, type SegmentInfo } from './segments.js';

export interface RetentionResult {
  deleted: { segment: string; firstSeq: number; lastSeq: number }[];
  firstRetainedSeq?: number;
  record?: AuditRecord;
}

export interface RetentionInput {
  dir: string;
  days: number;
  now: Date;
  /** Start seq of the segment being written (never deleted). */
  currentStartSeq: number;
  /** Highest seq covered by a signed checkpoint. */
  checkpointSeq: number;
  append: (e: AuditEntry) => Promise<AuditRecord>;
}

/** The oldest segments that may go: older than the cutoff date, closed and checkpointed. */
export function planRetention(
  segments: SegmentInfo[],
  cutoffDate: string,
  currentStartSeq: number,
  checkpointSeq: number,
): SegmentInfo[] {
  const out: SegmentInfo[] = [];
  for (let i = 0; i < segments.length - 1; i++) {
    const seg = segments[i] as SegmentInfo;
    const next = segments[i + 1] as SegmentInfo;
    const lastSeq = next.startSeq - 1;
    if (seg.date >= cutoffDate || seg.startSeq >= currentStartSeq || lastSeq > checkpointSeq) break;
    out.push(seg);
  }
  return out;
}

async function firstRecord(file: string): Promise<AuditRecord | undefined> {
  for await (const l of readLines(file)) {
    const p = parseRecordLine(l.text);
    return 'error' in p ? undefined : p.record;
  }
  return undefined;
}

export async function removeExpiredSegments(input: RetentionInput): Promise<RetentionResult> {
  const cutoff = new Date(input.now.getTime() - input.days * 86_400_000).toISOString().slice(0, 10);
  const segments = await listSegments(input.dir);
  const doomed = planRetention(segments, cutoff, input.currentStartSeq, input.checkpointSeq);
  const kept = segments[doomed.length];
  if (doomed.length === 0 || !kept) return { deleted: [] };
  const first = await firstRecord(kept.file);
  if (!first) return { deleted: [] };
  const deleted = doomed.map((s, i) => ({
    segment: s.name,
    firstSeq: s.startSeq,
    lastSeq: (segments[i + 1] as SegmentInfo).startSeq - 1,
  }));
  const record = await input.append({
    type: 'system',
    event: 'retention',
    details: {
      days: input.days,
      cutoff,
      deleted,
      firstRetainedSeq: first.seq,
      firstRetainedPrev: first.prev,
    },
  });
  for (const s of doomed) await rm(s.file, { force: true });
  await syncDir(input.dir);
  await pruneCheckpoints(input.dir, first.seq - 1);
  return { deleted, firstRetainedSeq: first.seq, record };
}
