/**
 * Offline verification of an audit directory: the hash chain across all
 * segments, every checkpoint's signature, that each checkpoint signs the hash
 * the chain has at its seq, and that the log is not shorter than any
 * checkpoint. A log that starts after seq 1 (retention) must be vouched for
 * by a 'retention' record naming its first seq and prev, or by a checkpoint at
 * the seq before it.
 */
import { readFile } from 'node:fs/promises';
import { isModgateError } from '../errors.js';
import { parseVerifierKey } from '../integrity/note.js';
import {
  claimedReplica,
  claimedSeq,
  listCheckpointFiles,
  openCheckpoint,
  splitNotes,
} from './checkpoint.js';
import { ZERO_HASH, parseRecordLine, type AuditRecord } from './records.js';
import { assertAuditDir, listSegments, readLines, type SegmentInfo } from './segments.js';

export interface BadSpot {
  seq: number;
  segment: string;
  line: number;
  reason: string;
}

export interface VerifyProgress {
  segment: string;
  records: number;
  segmentsDone: number;
  segments: number;
}

export interface VerifyOptions {
  dir: string;
  verifierKey: string;
  /** A file of concatenated checkpoint notes received by a remote collector. */
  shippedCheckpoints?: string;
  onProgress?: (p: VerifyProgress) => void;
  /** The chain's replica (a worker's chain, src/audit/chains.ts): its checkpoints must name it. */
  replica?: string;
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  /** Checkpoints whose signature verified and whose seq lies in the retained log. */
  checkpoints: number;
  firstSeq?: number;
  head?: { seq: number; hash: string };
  /** Records after the newest checkpoint (not yet covered by a signature). */
  unsigned: number;
  firstBad?: BadSpot;
  /**
   * Checkpoints whose signatures are all by keys other than the verifier key
   * (a wrong --verifier-key, or a key that replaced the gateway's): they vouch
   * for nothing, and are not evidence of tampering either.
   */
  foreign: ForeignCheckpoint[];
  warnings: string[];
}

export interface ForeignCheckpoint {
  seq: number;
  source: string;
  /** The signing keys named by the note, as name+hash (hex). */
  keys: string[];
}

interface CpEntry {
  hash: string;
  source: string;
}

export interface Checkpoints {
  good: Map<number, CpEntry[]>;
  bad: { seq: number; source: string; reason: string }[];
  foreign: ForeignCheckpoint[];
}

/** name+hash (8 hex digits) of a key, as note signature lines name it. */
export function keyId(name: string, hash: number): string {
  return `${name}+${hash.toString(16).padStart(8, '0')}`;
}

/** The keys that signed a note no known key verifies (NOTE_UNVERIFIED), else undefined. */
function foreignKeys(err: unknown): string[] | undefined {
  if (!isModgateError(err, 'NOTE_UNVERIFIED')) return undefined;
  const u = err.details.unverified;
  if (!Array.isArray(u) || u.length === 0) return undefined;
  return (u as Array<{ name: string; hash: number }>).map((k) => keyId(k.name, k.hash));
}

export interface NoteSource {
  note: Buffer | string;
  /** Where it came from (a file, `FILE#n` in a shipped file, a table row), for reports. */
  source: string;
}

/**
 * Sorts checkpoint notes into good (signed by the verifier key, for this
 * chain), bad (forged, malformed, or naming another replica) and foreign.
 * `replica` is the chain's replica (undefined for a folder's chain).
 */
export function checkpointsFrom(
  notes: NoteSource[],
  verifierKey: string,
  replica?: string,
): Checkpoints {
  const out: Checkpoints = { good: new Map(), bad: [], foreign: [] };
  parseVerifierKey(verifierKey);
  for (const { note, source } of notes) {
    try {
      const body = openCheckpoint(note, verifierKey);
      if (body.replica !== replica) {
        const named = body.replica ? `replica ${body.replica}` : 'no replica';
        out.bad.push({
          seq: body.seq,
          source,
          reason: `checkpoint names ${named}, not this chain's (${replica ?? 'no replica'})`,
        });
        continue;
      }
      out.good.set(body.seq, [...(out.good.get(body.seq) ?? []), { hash: body.hash, source }]);
    } catch (err) {
      const keys = foreignKeys(err);
      if (keys) {
        out.foreign.push({ seq: claimedSeq(note), source, keys });
        continue;
      }
      const reason = isModgateError(err) ? `${err.code}: ${err.message}` : String(err);
      out.bad.push({
        seq: claimedSeq(note),
        source,
        reason: `checkpoint signature invalid (${reason})`,
      });
    }
  }
  return out;
}

/** The notes of a file of concatenated shipped checkpoints. */
export async function readShippedNotes(file: string): Promise<NoteSource[]> {
  const text = await readFile(file, 'utf8');
  return splitNotes(text).map((note, i) => ({ note, source: `${file}#${i + 1}` }));
}

async function loadCheckpoints(opts: VerifyOptions): Promise<Checkpoints> {
  const notes: NoteSource[] = [];
  for (const f of await listCheckpointFiles(opts.dir))
    notes.push({ note: await readFile(f.file), source: f.file });
  if (opts.shippedCheckpoints) {
    // Notes of other replicas' chains belong to those chains, not to this one.
    const shipped = await readShippedNotes(opts.shippedCheckpoints);
    notes.push(...shipped.filter((n) => claimedReplica(n.note) === opts.replica));
  }
  return checkpointsFrom(notes, opts.verifierKey, opts.replica);
}

/** Walks one chain in seq order, recording the first bad spot. */
export class Walk {
  records = 0;
  checked = new Set<number>();
  expected = 0;
  prevHash = ZERO_HASH;
  prevLoc = { segment: '', line: 0 };
  anchor:
    { seq: number; prev: string; segment: string; line: number; vouched: boolean } | undefined;
  bad: BadSpot | undefined;
  warnings: string[] = [];

  constructor(private readonly cps: Checkpoints) {}

  fail(seq: number, segment: string, line: number, reason: string): void {
    this.bad ??= { seq, segment, line, reason };
  }

  /** Checks one parsed record at its place; returns false to stop. */
  record(r: AuditRecord, hash: string, segment: string, line: number): boolean {
    if (this.expected === 0) this.start(r, segment, line);
    else if (r.seq !== this.expected) {
      this.fail(
        this.expected,
        segment,
        line,
        `expected record ${this.expected}, found ${r.seq} (records deleted or reordered)`,
      );
    } else if (r.prev !== this.prevHash) {
      const at = this.prevLoc;
      this.fail(
        r.seq - 1,
        at.segment,
        at.line,
        `record ${r.seq - 1} does not match the hash record ${r.seq} commits to (record modified)`,
      );
    }
    if (this.bad) return false;
    this.checkAt(r.seq, hash, segment, line);
    if (r.type === 'system' && r.event === 'retention' && this.anchor) {
      const d = r.details as { firstRetainedSeq?: unknown; firstRetainedPrev?: unknown };
      if (d.firstRetainedSeq === this.anchor.seq && d.firstRetainedPrev === this.anchor.prev)
        this.anchor.vouched = true;
    }
    this.records++;
    this.expected = r.seq + 1;
    this.prevHash = hash;
    this.prevLoc = { segment, line };
    return !this.bad;
  }

  private start(r: AuditRecord, segment: string, line: number): void {
    if (r.seq === 1) {
      if (r.prev !== ZERO_HASH)
        this.fail(1, segment, line, 'first record does not start the chain (prev is not zero)');
      return;
    }
    const vouched = (this.cps.good.get(r.seq - 1) ?? []).some((c) => c.hash === r.prev);
    this.anchor = { seq: r.seq, prev: r.prev, segment, line, vouched };
  }

  private checkAt(seq: number, hash: string, segment: string, line: number): void {
    const forged = this.cps.bad.find((b) => b.seq === seq);
    if (forged) return this.fail(seq, forged.source, 0, forged.reason);
    for (const c of this.cps.good.get(seq) ?? []) {
      if (c.hash !== hash)
        return this.fail(
          seq,
          segment,
          line,
          `record ${seq} differs from the hash signed by checkpoint ${c.source}`,
        );
      this.checked.add(seq);
    }
  }

  finish(lastSeg: string, lastLine: number): void {
    if (this.bad) return;
    const firstSeq = this.anchor?.seq ?? 1;
    for (const b of this.cps.bad) {
      if (b.seq === 0 || b.seq >= this.expected || b.seq < firstSeq)
        this.fail(b.seq, b.source, 0, b.reason);
    }
    if (this.anchor && !this.anchor.vouched) {
      const a = this.anchor;
      this.fail(
        a.seq,
        a.segment,
        a.line,
        `log starts at record ${a.seq} but no retention record or checkpoint vouches for the removal of records before it`,
      );
    }
    const beyond = [...this.cps.good.keys()]
      .filter((s) => s >= this.expected)
      .sort((x, y) => x - y);
    if (beyond.length) {
      const max = beyond[beyond.length - 1] as number;
      this.fail(
        Math.max(this.expected, 1),
        lastSeg,
        lastLine + 1,
        `log ends at record ${this.expected - 1} but a signed checkpoint covers record ${max} (truncated)`,
      );
    }
  }
}

/** Verifies an audit directory; see the module comment. Streams segments line by line. */
export async function verifyAudit(opts: VerifyOptions): Promise<VerifyResult> {
  await assertAuditDir(opts.dir);
  const cps = await loadCheckpoints(opts);
  const segments = await listSegments(opts.dir);
  const w = new Walk(cps);
  let lastSeg = '';
  let lastLine = 0;
  for (const [i, seg] of segments.entries()) {
    const isLast = i === segments.length - 1;
    const r = await walkSegment(w, seg, isLast, opts, { done: i, total: segments.length });
    lastSeg = seg.name;
    if (r.lines > 0 || i === 0) lastLine = r.lines;
    if (w.bad) break;
  }
  w.finish(lastSeg, lastLine);
  return summarize(w, cps);
}

/** The result of a finished walk. */
export function summarize(w: Walk, cps: Checkpoints): VerifyResult {
  const maxCp = Math.max(0, ...[...cps.good.keys()].filter((s) => s < w.expected));
  const head = w.records ? { seq: w.expected - 1, hash: w.prevHash } : undefined;
  return {
    // Fail closed: a checkpoint nobody here can verify leaves the trail unproven.
    ok: !w.bad && cps.foreign.length === 0,
    records: w.records,
    checkpoints: w.checked.size,
    ...(w.records ? { firstSeq: w.anchor?.seq ?? 1 } : {}),
    ...(head ? { head } : {}),
    unsigned: head ? head.seq - Math.max(maxCp, (w.anchor?.seq ?? 1) - 1) : 0,
    ...(w.bad ? { firstBad: w.bad } : {}),
    foreign: cps.foreign,
    warnings: w.warnings,
  };
}

async function walkSegment(
  w: Walk,
  seg: SegmentInfo,
  isLast: boolean,
  opts: VerifyOptions,
  pos: { done: number; total: number },
): Promise<{ lines: number }> {
  let lines = 0;
  for await (const l of readLines(seg.file)) {
    lines = l.line;
    if (!l.complete) {
      if (isLast)
        w.warnings.push(
          `${seg.name}: ignoring an incomplete last line of ${Buffer.byteLength(l.text)} bytes (a torn write; the gateway repairs it on start)`,
        );
      else w.fail(w.expected || seg.startSeq, seg.name, l.line, 'incomplete line inside the log');
      break;
    }
    const p = parseRecordLine(l.text);
    if ('error' in p) {
      w.fail(w.expected || seg.startSeq, seg.name, l.line, `unreadable record: ${p.error}`);
      break;
    }
    if (
      l.line === 1 &&
      p.record.seq !== seg.startSeq &&
      (w.expected === 0 || p.record.seq === w.expected)
    ) {
      w.fail(
        w.expected || seg.startSeq,
        seg.name,
        1,
        `segment name says it starts at ${seg.startSeq} but its first record is ${p.record.seq}`,
      );
      break;
    }
    if (!w.record(p.record, p.hash, seg.name, l.line)) break;
    if (w.records % 10_000 === 0)
      opts.onProgress?.({
        segment: seg.name,
        records: w.records,
        segmentsDone: pos.done,
        segments: pos.total,
      });
  }
  if (lines === 0 && !isLast)
    w.fail(w.expected || seg.startSeq, seg.name, 0, 'empty segment inside the log');
  opts.onProgress?.({
    segment: seg.name,
    records: w.records,
    segmentsDone: pos.done + 1,
    segments: pos.total,
  });
  return { lines };
}
