/**
 * One replica's audit chain in PostgreSQL (tables in pg-schema.ts). The
 * replica writes over one dedicated connection that holds a session advisory
 * lock on its replica id, so two live processes never extend one chain. Each
 * batch of the log's group commit is one multi-row INSERT of a prepared
 * statement, which is its own transaction: with synchronous_commit on, the
 * records are durable when it returns. At start the tail after the newest
 * checkpoint is verified before the chain continues from its last row.
 */
import pg from 'pg';
import { ModgateError } from '../errors.js';
import { REPLICA_RE, openCheckpoint, type Checkpoint } from './checkpoint.js';
import { CHECKPOINTS_TABLE, RECORDS_TABLE, migrateAudit } from './pg-schema.js';
import { ZERO_HASH, parseRecordLine } from './records.js';
import type { RetentionResult } from './retention.js';
import type { ChainLine, ChainStore, RetentionRequest, StoredHead } from './store.js';

export interface PgStoreOptions {
  /** postgres://… (default: the PG* environment variables, as libpq reads them). */
  url?: string;
  /** Further connection settings (host, password, ssl, …), e.g. those of the shared state. */
  connection?: pg.ClientConfig;
  replica: string;
  /** Checks the newest checkpoint's signature before the chain continues. */
  verifierKey: string;
  /** A statement that takes longer fails the batch, and the log turns unhealthy (default 15 s). */
  queryTimeoutMs?: number;
}

/** Lines per page when reading a chain back. */
export const PAGE_ROWS = 2000;
/** Bytes of lines per INSERT: big batches are split, each part its own commit. */
const CHUNK_BYTES = 8 << 20;

const INSERT = {
  name: 'modgate-audit-append',
  text: `INSERT INTO ${RECORDS_TABLE} (replica, seq, time, hash, line)
         SELECT $1, s, t, h, l FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[]) AS u(s, t, h, l)`,
};

function corrupt(replica: string, seq: number, why: string): ModgateError {
  return new ModgateError(
    'AUDIT_CORRUPT',
    `audit chain of replica ${replica} is damaged at record ${seq}: ${why}; refusing to continue it`,
    { replica, seq },
  );
}

/** The record's time as the index column holds it (the epoch when it is not a time). */
export function timeColumn(t: string): string {
  const ms = Date.parse(t);
  return new Date(Number.isFinite(ms) ? ms : 0).toISOString();
}

export function checkReplicaId(replica: string): string {
  if (!REPLICA_RE.test(replica))
    throw new ModgateError(
      'CONFIG_INVALID',
      `the replica id (cluster.replicaId, default the host name) must be 1 to 128 letters, digits, '.', '_', ':' or '-', got ${JSON.stringify(replica)}`,
    );
  return replica;
}

export class PgChainStore implements ChainStore {
  readonly label: string;
  readonly replica: string;
  private client: pg.Client | undefined;
  private commits = 0;

  constructor(private readonly opts: PgStoreOptions) {
    this.replica = checkReplicaId(opts.replica);
    this.label = `postgres replica ${opts.replica}`;
  }

  get syncs(): number {
    return this.commits;
  }

  private async connect(): Promise<pg.Client> {
    const c = new pg.Client({
      ...this.opts.connection,
      ...(this.opts.url ? { connectionString: this.opts.url } : {}),
      application_name: `modgate-audit ${this.replica}`,
      query_timeout: this.opts.queryTimeoutMs ?? 15_000,
      connectionTimeoutMillis: this.opts.queryTimeoutMs ?? 15_000,
    });
    // A dropped connection fails the next write; the log then retries attach().
    c.on('error', () => undefined);
    await c.connect();
    try {
      await c.query('SET synchronous_commit = on');
      await migrateAudit(c);
      const lock = await c.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
        [`modgate-audit:${this.replica}`],
      );
      if (!lock.rows[0]?.ok)
        throw new ModgateError(
          'AUDIT_REPLICA_BUSY',
          `another process is writing the audit chain of replica ${this.replica}: give each replica its own cluster.replicaId`,
          { replica: this.replica },
        );
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    return c;
  }

  async attach(): Promise<StoredHead> {
    await this.detach();
    const c = await this.connect();
    try {
      const head = await this.verifyTail(c);
      this.client = c;
      return head;
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
  }

  /** Checks the rows from the newest checkpoint on: consecutive, hash-linked, matching it. */
  private async verifyTail(c: pg.Client): Promise<StoredHead> {
    const r = this.replica;
    const cpRow = await c.query<{ seq: string; note: string }>(
      `SELECT seq, note FROM ${CHECKPOINTS_TABLE} WHERE replica = $1 ORDER BY seq DESC LIMIT 1`,
      [r],
    );
    let cp: { seq: number; hash: string } | undefined;
    if (cpRow.rows[0]) {
      const row = cpRow.rows[0];
      try {
        const body = openCheckpoint(row.note, this.opts.verifierKey);
        if (body.replica !== r) throw new Error(`it names replica ${body.replica ?? '(none)'}`);
        cp = body;
      } catch (err) {
        throw corrupt(
          r,
          Number(row.seq),
          `its newest checkpoint does not verify (${(err as Error).message})`,
        );
      }
    }
    const min = await c.query<{ s: string | null }>(
      `SELECT min(seq) AS s FROM ${RECORDS_TABLE} WHERE replica = $1`,
      [r],
    );
    if (min.rows[0]?.s == null) {
      if (cp) throw corrupt(r, cp.seq, 'the chain is empty but a checkpoint covers it (truncated)');
      return { seq: 0, hash: ZERO_HASH, checkpointSeq: 0 };
    }
    const from = cp ? cp.seq : Number(min.rows[0].s);
    let expected = from;
    let prev = '';
    for (let page = 0; page < 1e7; page++) {
      const rows = await readRows(c, r, expected - 1, PAGE_ROWS);
      for (const row of rows) {
        const seq = Number(row.seq);
        if (seq !== expected)
          throw corrupt(r, expected, `row ${seq} follows row ${expected - 1} (rows missing)`);
        const p = parseRecordLine(row.line);
        if ('error' in p) throw corrupt(r, seq, p.error);
        if (p.record.seq !== seq) throw corrupt(r, seq, `the row holds record ${p.record.seq}`);
        if (p.hash !== row.hash) throw corrupt(r, seq, "the row's hash is not its record's");
        if (seq === from && cp && p.hash !== cp.hash)
          throw corrupt(r, seq, 'the record differs from the hash its checkpoint signed');
        if (seq === 1 && p.record.prev !== ZERO_HASH)
          throw corrupt(r, seq, 'the first record does not start the chain');
        if (prev && p.record.prev !== prev)
          throw corrupt(r, seq - 1, 'the record does not match the hash the next one commits to');
        prev = p.hash;
        expected++;
      }
      if (rows.length < PAGE_ROWS) break;
    }
    if (expected === from)
      throw corrupt(r, from, 'the chain ends before its newest checkpoint (truncated)');
    return { seq: expected - 1, hash: prev, checkpointSeq: cp?.seq ?? 0 };
  }

  private live(): pg.Client {
    if (!this.client)
      throw new ModgateError('AUDIT_UNAVAILABLE', `${this.label}: not connected`, {
        replica: this.replica,
      });
    return this.client;
  }

  async write(lines: ChainLine[]): Promise<void> {
    const c = this.live();
    for (let i = 0; i < lines.length;) {
      const seqs: number[] = [];
      const times: string[] = [];
      const hashes: string[] = [];
      const texts: string[] = [];
      for (let bytes = 0; i < lines.length && (texts.length === 0 || bytes < CHUNK_BYTES); i++) {
        const l = lines[i] as ChainLine;
        seqs.push(l.seq);
        times.push(timeColumn(l.time));
        hashes.push(l.hash);
        texts.push(l.line);
        bytes += l.line.length;
      }
      await c.query({ ...INSERT, values: [this.replica, seqs, times, hashes, texts] });
      this.commits++;
    }
  }

  async writeCheckpoint(cp: Checkpoint): Promise<void> {
    await this.live().query(
      `INSERT INTO ${CHECKPOINTS_TABLE} (replica, seq, note) VALUES ($1, $2, $3) ON CONFLICT (replica, seq) DO NOTHING`,
      [this.replica, cp.seq, cp.note.toString('utf8')],
    );
  }

  async removeExpired(req: RetentionRequest): Promise<RetentionResult> {
    const c = this.live();
    const r = this.replica;
    const cutoff = new Date(req.now.getTime() - req.days * 86_400_000);
    // The first record to keep: the oldest one that is recent or not yet checkpointed.
    const first = await c.query<{ seq: string; line: string; lo: string }>(
      `SELECT seq, line, (SELECT min(seq) FROM ${RECORDS_TABLE} WHERE replica = $1) AS lo
         FROM ${RECORDS_TABLE}
        WHERE replica = $1 AND (time >= $2 OR seq > $3)
        ORDER BY seq LIMIT 1`,
      [r, cutoff.toISOString(), req.checkpointSeq],
    );
    const row = first.rows[0];
    if (!row || Number(row.seq) <= Number(row.lo)) return { deleted: [] };
    const p = parseRecordLine(row.line);
    if ('error' in p) throw corrupt(r, Number(row.seq), p.error);
    const keep = p.record.seq;
    const deleted = [
      { segment: `${this.label} rows`, firstSeq: Number(row.lo), lastSeq: keep - 1 },
    ];
    const record = await req.append({
      type: 'system',
      event: 'retention',
      details: {
        days: req.days,
        cutoff: cutoff.toISOString(),
        deleted,
        firstRetainedSeq: keep,
        firstRetainedPrev: p.record.prev,
      },
    });
    await c.query(`DELETE FROM ${RECORDS_TABLE} WHERE replica = $1 AND seq < $2`, [r, keep]);
    // Keep the checkpoint right before the first retained record, and always the newest.
    await c.query(
      `DELETE FROM ${CHECKPOINTS_TABLE} WHERE replica = $1 AND seq < $2
          AND seq < (SELECT max(seq) FROM ${CHECKPOINTS_TABLE} WHERE replica = $1)`,
      [r, keep - 1],
    );
    return { deleted, firstRetainedSeq: keep, record };
  }

  async detach(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    // Ending the session also releases the replica's advisory lock.
    if (c) await c.end().catch(() => undefined);
  }

  close(): Promise<void> {
    return this.detach();
  }
}

export interface ChainRow {
  seq: string;
  time: Date;
  hash: string;
  line: string;
}

/** Rows of a replica's chain after `afterSeq`, in seq order. */
export async function readRows(
  c: pg.ClientBase,
  replica: string,
  afterSeq: number,
  limit: number,
): Promise<ChainRow[]> {
  const res = await c.query<ChainRow>({
    name: 'modgate-audit-rows',
    text: `SELECT seq, time, hash, line FROM ${RECORDS_TABLE} WHERE replica = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    values: [replica, afterSeq, limit],
  });
  return res.rows;
}
