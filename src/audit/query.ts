/**
 * Streaming queries over an audit directory and their output formats.
 * Filters: module (glob: `*` any run of characters, `?` one), version,
 * client id, decision, code (a decision code or a security event), since,
 * until. Module/version/client/decision/code match decision records (module,
 * version and code also match security records carrying them).
 */
import { ModgateError } from '../errors.js';
import { parseRecordLine, type AuditRecord, type Decision } from './records.js';
import { assertAuditDir, listSegments, readLines } from './segments.js';

export interface QueryFilter {
  module?: string;
  version?: string;
  client?: string;
  decision?: Decision;
  code?: string;
  since?: Date;
  until?: Date;
  /** Record types to include (default: all). */
  types?: string[];
}

export type OutputFormat = 'table' | 'json' | 'csv';

const DURATION_RE = /^(\d{1,9})([smhdw])$/;
const UNIT_MS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3, w: 604_800e3 };

/** Parses an ISO date/time or a duration before `now` ("30m", "24h", "7d", "2w"). Throws AUDIT_QUERY_INVALID. */
export function parseTimeArg(s: string, now = new Date()): Date {
  const m = DURATION_RE.exec(s.trim());
  if (m) return new Date(now.getTime() - Number(m[1]) * (UNIT_MS[m[2] as string] as number));
  const d = /^\d{4}-\d{2}-\d{2}/.test(s) ? new Date(s) : new Date(NaN);
  if (Number.isNaN(d.getTime()))
    throw new ModgateError(
      'AUDIT_QUERY_INVALID',
      `invalid time ${JSON.stringify(s)}: use an ISO date or a duration like 24h`,
    );
  return d;
}

export function globToRegExp(glob: string): RegExp {
  const body = [...glob]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.+()[\]{}|/]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 'su');
}

function field(r: AuditRecord, name: 'module' | 'version'): string | undefined {
  if (r.type === 'decision') return r[name];
  if (r.type === 'security' && typeof r.details?.[name] === 'string')
    return r.details[name] as string;
  return undefined;
}

/** Compiles a filter into a predicate. */
export function compileFilter(f: QueryFilter): (r: AuditRecord) => boolean {
  const mod = f.module !== undefined ? globToRegExp(f.module) : undefined;
  const since = f.since?.getTime();
  const until = f.until?.getTime();
  return (r) => {
    if (f.types && !f.types.includes(r.type)) return false;
    const t = Date.parse(r.time);
    if (since !== undefined && !(t >= since)) return false;
    if (until !== undefined && !(t < until)) return false;
    if (mod && !mod.test(field(r, 'module') ?? '')) return false;
    if (f.version !== undefined && field(r, 'version') !== f.version) return false;
    if (f.client !== undefined && (r.type !== 'decision' || r.client?.id !== f.client))
      return false;
    if (f.decision !== undefined && (r.type !== 'decision' || r.decision !== f.decision))
      return false;
    if (f.code !== undefined) {
      const hit =
        r.type === 'decision'
          ? (r.codes ?? []).includes(f.code)
          : r.type === 'security' && r.event === f.code;
      if (!hit) return false;
    }
    return true;
  };
}

/** Streams every readable record of the directory in seq order (unreadable lines are skipped). */
export async function* readRecords(
  dir: string,
  opts: { sinceDate?: string } = {},
): AsyncGenerator<AuditRecord> {
  await assertAuditDir(dir);
  const segments = await listSegments(dir);
  for (const [i, seg] of segments.entries()) {
    const next = segments[i + 1];
    if (opts.sinceDate && next && next.date < opts.sinceDate) continue;
    for await (const l of readLines(seg.file)) {
      if (!l.complete) break;
      const p = parseRecordLine(l.text);
      if (!('error' in p)) yield p.record;
    }
  }
}

/** Streams the records of `dir` matching `filter`. */
export async function* queryAudit(
  dir: string,
  filter: QueryFilter = {},
): AsyncGenerator<AuditRecord> {
  const match = compileFilter(filter);
  const sinceDate = filter.since
    ? new Date(filter.since.getTime() - 86_400_000).toISOString().slice(0, 10)
    : undefined;
  for await (const r of readRecords(dir, sinceDate ? { sinceDate } : {})) if (match(r)) yield r;
}

export const COLUMNS = [
  'seq',
  'time',
  'type',
  'kind',
  'client',
  'module',
  'version',
  'decision',
  'codes',
  'requestId',
] as const;
export type Row = Record<(typeof COLUMNS)[number], string> & { replica?: string };
/** Columns of the union of replicas' chains: the seq is per replica. */
export const REPLICA_COLUMNS = ['replica', ...COLUMNS] as const;

/** One flat row per record (used by table and csv output). */
export function toRow(r: AuditRecord): Row {
  const codes =
    r.type === 'decision'
      ? (r.codes ?? []).join(' ')
      : r.type === 'security' || r.type === 'system'
        ? r.event
        : r.type === 'completion'
          ? `${r.outcome} ${r.status}`
          : '';
  const replica = (r as { replica?: unknown }).replica;
  return {
    ...(typeof replica === 'string' ? { replica } : {}),
    seq: String(r.seq),
    time: r.time ?? '',
    type: r.type,
    kind: r.type === 'decision' ? r.kind : '',
    client: r.type === 'decision' ? (r.client?.id ?? '') : '',
    module: field(r, 'module') ?? '',
    version: field(r, 'version') ?? '',
    decision: r.type === 'decision' ? r.decision : '',
    codes,
    requestId: 'requestId' in r && typeof r.requestId === 'string' ? r.requestId : '',
  };
}

/** RFC 4180 quoting; cells starting like a spreadsheet formula get a leading quote. */
export function csvCell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Renders rows as an aligned text table (control characters are shown escaped). */
export function renderTable(rows: Record<string, string>[], columns: readonly string[]): string {
  const clean = (s: string): string =>
    s.replace(
      /[\u0000-\u001f\u007f]/g,
      (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    );
  const cells = rows.map((r) => columns.map((c) => clean(r[c] ?? '')));
  const widths = columns.map((c, i) =>
    Math.max(c.length, ...cells.map((row) => (row[i] as string).length)),
  );
  const line = (vals: readonly string[]): string =>
    vals
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n') + '\n';
}

/**
 * Formats records: json = one object per line (streamed), csv = header and
 * rows (streamed), table = aligned columns (buffered to size the columns).
 */
export async function* formatRecords(
  records: AsyncIterable<AuditRecord>,
  format: OutputFormat,
  opts: { replicas?: boolean } = {},
): AsyncGenerator<string> {
  const columns: readonly string[] = opts.replicas ? REPLICA_COLUMNS : COLUMNS;
  if (format === 'json') {
    for await (const r of records) yield `${JSON.stringify(r)}\n`;
  } else if (format === 'csv') {
    yield `${columns.join(',')}\r\n`;
    for await (const r of records) {
      const row = toRow(r) as Record<string, string>;
      yield `${columns.map((c) => csvCell(row[c] ?? '')).join(',')}\r\n`;
    }
  } else if (format === 'table') {
    const rows: Row[] = [];
    for await (const r of records) rows.push(toRow(r));
    yield renderTable(rows, columns);
  } else {
    throw new ModgateError(
      'AUDIT_QUERY_INVALID',
      `unknown format ${JSON.stringify(format)}: use table, json or csv`,
    );
  }
}
