/**
 * Readers of the replicas' chains in PostgreSQL: verify each chain (as
 * verify.ts does a folder), and stream the union of all chains for queries,
 * reports and exports. Every derived column is rechecked against the
 * record's bytes; nothing the database says about a record is trusted
 * without them.
 */
import pg from 'pg';
import { ModgateError } from '../errors.js';
import { claimedReplica } from './checkpoint.js';
import { CHECKPOINTS_TABLE, RECORDS_TABLE, auditTablesExist } from './pg-schema.js';
import { PAGE_ROWS, readRows, timeColumn } from './pg-store.js';
import { compileFilter, type QueryFilter } from './query.js';
import { parseRecordLine, type AuditRecord } from './records.js';
import {
  Walk,
  checkpointsFrom,
  readShippedNotes,
  summarize,
  type NoteSource,
  type VerifyResult,
} from './verify.js';

/** Opens a reading connection; AUDIT_DB_UNREADABLE when it fails or holds no audit tables. */
export async function openAuditDb(url: string | undefined, password?: string): Promise<pg.Client> {
  // pg lets a connection string's (absent) password override a separate one: join them.
  let connectionString = url;
  if (url && password) {
    const u = new URL(url);
    u.password = password;
    connectionString = u.toString();
  }
  const c = new pg.Client({
    ...(connectionString ? { connectionString } : password ? { password } : {}),
    application_name: 'modgate-audit-reader',
    connectionTimeoutMillis: 15_000,
  });
  c.on('error', () => undefined);
  const where = url ? redactUrl(url) : 'the PG* environment';
  try {
    await c.connect();
    if (!(await auditTablesExist(c))) {
      throw new ModgateError(
        'AUDIT_DB_UNREADABLE',
        `no audit tables in the database of ${where}: no replica has written there (audit.store: postgres)`,
      );
    }
  } catch (err) {
    await c.end().catch(() => undefined);
    if (err instanceof ModgateError) throw err;
    throw new ModgateError(
      'AUDIT_DB_UNREADABLE',
      `cannot read the audit store at ${where}: ${(err as Error).message}`,
    );
  }
  return c;
}

/** A URL fit for messages: the password is never printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'a postgres URL';
  }
}

/** Replica ids that have records or checkpoints, sorted. */
export async function listReplicas(c: pg.ClientBase): Promise<string[]> {
  const r = await c.query<{ replica: string }>(
    `SELECT replica FROM ${RECORDS_TABLE} GROUP BY replica
      UNION SELECT replica FROM ${CHECKPOINTS_TABLE} GROUP BY replica ORDER BY 1`,
  );
  return r.rows.map((x) => x.replica);
}

export interface ReplicaResult extends VerifyResult {
  replica: string;
}

export interface PgVerifyOptions {
  verifierKey: string;
  /** A file of concatenated checkpoint notes received off the hosts (each names its replica). */
  shippedCheckpoints?: string;
  /** Only these replicas (default: every replica found, and every replica a shipped note names). */
  replicas?: string[];
  onProgress?: (records: number) => void;
}

/** Verifies every replica's chain; ok only when each is. */
export async function verifyPostgres(
  c: pg.ClientBase,
  opts: PgVerifyOptions,
): Promise<{ ok: boolean; replicas: ReplicaResult[] }> {
  const shipped = opts.shippedCheckpoints ? await readShippedNotes(opts.shippedCheckpoints) : [];
  let ids = opts.replicas ?? (await listReplicas(c));
  if (!opts.replicas) {
    // A replica whose rows and checkpoints were all deleted is still named by what it shipped.
    for (const n of shipped) {
      const r = claimedReplica(n.note);
      if (r && !ids.includes(r)) ids = [...ids, r].sort();
    }
  }
  const out: ReplicaResult[] = [];
  for (const replica of ids) {
    const notes = shipped.filter((n) => claimedReplica(n.note) === replica);
    out.push({ replica, ...(await verifyReplica(c, replica, notes, opts)) });
  }
  return { ok: out.every((r) => r.ok), replicas: out };
}

async function verifyReplica(
  c: pg.ClientBase,
  replica: string,
  shipped: NoteSource[],
  opts: PgVerifyOptions,
): Promise<VerifyResult> {
  const rows = await c.query<{ seq: string; note: string }>(
    `SELECT seq, note FROM ${CHECKPOINTS_TABLE} WHERE replica = $1 ORDER BY seq`,
    [replica],
  );
  const notes: NoteSource[] = rows.rows.map((r) => ({
    note: r.note,
    source: `checkpoint row ${r.seq}`,
  }));
  const cps = checkpointsFrom([...notes, ...shipped], opts.verifierKey, replica);
  const w = new Walk(cps);
  const where = `replica ${replica}`;
  let last = 0;
  for (let page = 0; page < 1e9 && !w.bad; page++) {
    const batch = await readRows(c, replica, last, PAGE_ROWS);
    for (const row of batch) {
      const seq = Number(row.seq);
      const p = parseRecordLine(row.line);
      if ('error' in p) w.fail(w.expected || seq, where, seq, `unreadable record: ${p.error}`);
      else if (p.record.seq !== seq && (w.expected === 0 || seq === w.expected))
        w.fail(
          seq,
          where,
          seq,
          `row ${seq} holds record ${p.record.seq} (rows moved or reordered)`,
        );
      else if (p.hash !== row.hash)
        w.fail(seq, where, seq, `row ${seq}'s stored hash is not its record's (row modified)`);
      else if (row.time.toISOString() !== timeColumn(p.record.time))
        w.fail(seq, where, seq, `row ${seq}'s time column is not its record's time (row modified)`);
      else w.record(p.record, p.hash, where, seq);
      if (w.bad) break;
      last = seq;
    }
    opts.onProgress?.(w.records);
    if (batch.length < PAGE_ROWS) break;
  }
  w.finish(where, last);
  return summarize(w, cps);
}

/**
 * Streams the records of every replica matching `filter`, by time (then
 * replica and seq), each with its `replica`. since/until narrow the read in
 * the database; the filter itself is applied to the records' bytes.
 */
export async function* queryPostgres(
  c: pg.ClientBase,
  filter: QueryFilter = {},
  replicas?: string[],
): AsyncGenerator<AuditRecord & { replica: string }> {
  const match = compileFilter(filter);
  let after: [string, string, string] = ['-infinity', '', '0'];
  const since = filter.since ? filter.since.toISOString() : '-infinity';
  const until = filter.until ? filter.until.toISOString() : 'infinity';
  for (let page = 0; page < 1e9; page++) {
    const res = await c.query<{ time: Date; replica: string; seq: string; line: string }>({
      name: 'modgate-audit-union',
      text: `SELECT time, replica, seq, line FROM ${RECORDS_TABLE}
              WHERE (time, replica, seq) > ($1::timestamptz, $2, $3::bigint)
                AND time >= $4::timestamptz AND time < $5::timestamptz
                AND ($6::text[] IS NULL OR replica = ANY($6::text[]))
              ORDER BY time, replica, seq LIMIT $7`,
      values: [after[0], after[1], after[2], since, until, replicas ?? null, PAGE_ROWS],
    });
    for (const row of res.rows) {
      const p = parseRecordLine(row.line);
      if ('error' in p) continue;
      if (match(p.record)) yield { ...p.record, replica: row.replica };
    }
    const tail = res.rows.at(-1);
    if (!tail || res.rows.length < PAGE_ROWS) return;
    after = [tail.time.toISOString(), tail.replica, tail.seq];
  }
}
