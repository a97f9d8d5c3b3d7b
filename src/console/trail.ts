/**
 * What the console reads from an audit folder, through the query code of
 * src/audit (chains, queryAudit, the record parser): pages of records with a
 * cursor, one record by id, and the overview's counts. Every read streams and
 * stops when it has what it needs; nothing holds the trail in memory.
 */
import { listChains, chainRecords, type Chain } from '../audit/chains.js';
import { compileFilter, type QueryFilter } from '../audit/query.js';
import { parseRecordLine, type AuditRecord } from '../audit/records.js';
import { listSegments, readLines } from '../audit/segments.js';
import { bad } from './params.js';

export type Tagged = AuditRecord & { replica?: string };

/** Where a page stopped: the last record's time, replica and seq (the trail's merge order). */
interface Cursor {
  t: string;
  r: string;
  s: number;
}

export function encodeCursor(r: Tagged): string {
  const c: Cursor = { t: r.time ?? '', r: r.replica ?? '', s: r.seq };
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(v: string): Cursor {
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(v, 'base64url').toString('utf8'));
  } catch {
    throw bad('cursor is malformed', 'cursor');
  }
  const o = c as Partial<Cursor>;
  if (
    typeof o !== 'object' ||
    o === null ||
    typeof o.t !== 'string' ||
    Number.isNaN(Date.parse(o.t)) ||
    typeof o.r !== 'string' ||
    o.r.length > 128 ||
    !Number.isSafeInteger(o.s) ||
    (o.s as number) < 1
  )
    throw bad('cursor is malformed', 'cursor');
  return { t: o.t, r: o.r, s: o.s as number };
}

function after(r: Tagged, c: Cursor): boolean {
  const t = r.time ?? '';
  if (t !== c.t) return t > c.t;
  const rr = r.replica ?? '';
  if (rr !== c.r) return rr > c.r;
  return r.seq > c.s;
}

export interface Page {
  records: Tagged[];
  /** Present when more records follow. */
  next?: string;
}

export class TrailReader {
  constructor(private readonly root: string) {}

  chains(): Promise<Chain[]> {
    return listChains(this.root);
  }

  async records(filter: QueryFilter): Promise<AsyncIterable<Tagged>> {
    return chainRecords(await this.chains(), filter);
  }

  /**
   * One page of matching records after `cursor`, in the trail's order. The
   * folder's own chain resumes at the segment holding the cursor's seq;
   * several chains (merged by time) take the cursor's time as the stream's
   * `since`, so segments of earlier days are not read at all.
   */
  async page(
    filter: QueryFilter,
    o: { cursor?: string; limit: number; extra?: (r: Tagged) => boolean },
  ): Promise<Page> {
    const c = o.cursor ? decodeCursor(o.cursor) : undefined;
    const f = { ...filter };
    if (c) {
      const t = new Date(c.t);
      if (!f.since || f.since.getTime() < t.getTime()) f.since = t;
    }
    const out: Tagged[] = [];
    let more = false;
    const chains = await this.chains();
    // The folder's own chain alone is in seq order: its cursor's seq is where to resume.
    const bySeq = c && chains.length === 1 && chains[0]!.replica === undefined && c.r === '';
    const source = bySeq ? this.fromSeq(chains[0]!.dir, c.s, filter) : chainRecords(chains, f);
    for await (const r of source) {
      if (c && !bySeq && !after(r, c)) continue;
      if (o.extra && !o.extra(r)) continue;
      if (out.length === o.limit) {
        more = true;
        break;
      }
      out.push(r);
    }
    const last = out[out.length - 1];
    return { records: out, ...(more && last ? { next: encodeCursor(last) } : {}) };
  }

  /**
   * The folder's own chain after record `seq`: reading starts at the segment
   * that holds it, so a page deep into the trail costs what the first does.
   */
  private async *fromSeq(dir: string, seq: number, filter: QueryFilter): AsyncGenerator<Tagged> {
    const match = compileFilter(filter);
    const segments = await listSegments(dir);
    const first = Math.max(
      0,
      segments.findLastIndex((s) => s.startSeq <= seq),
    );
    for (const seg of segments.slice(first)) {
      for await (const l of readLines(seg.file)) {
        if (!l.complete) break;
        const p = parseRecordLine(l.text);
        if ('error' in p || p.record.seq <= seq) continue;
        if (match(p.record)) yield p.record;
      }
    }
  }

  /** The record `seq` of a chain, read from the one segment that holds it. */
  async record(replica: string, seq: number): Promise<Tagged | undefined> {
    const chain = (await this.chains()).find((ch) => (ch.replica ?? '') === replica);
    if (!chain) return undefined;
    const seg = (await listSegments(chain.dir)).filter((s) => s.startSeq <= seq).pop();
    if (!seg) return undefined;
    for await (const l of readLines(seg.file)) {
      if (!l.complete) break;
      const p = parseRecordLine(l.text);
      if ('error' in p) continue;
      if (p.record.seq === seq) return replica ? { ...p.record, replica } : p.record;
      if (p.record.seq > seq) break;
    }
    return undefined;
  }
}

/** A record's id in the console: `<replica>:<seq>`, the replica empty for the folder's own chain. */
export function recordId(r: Tagged): string {
  return `${r.replica ?? ''}:${r.seq}`;
}

export function parseRecordId(id: string): { replica: string; seq: number } {
  const m = /^([A-Za-z0-9._:-]{0,128}):([1-9][0-9]{0,15})$/.exec(id);
  if (!m || !Number.isSafeInteger(Number(m[2]))) throw bad('record id is malformed', 'id');
  return { replica: m[1]!, seq: Number(m[2]) };
}
