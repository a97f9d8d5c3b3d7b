/**
 * The shared-state port on PostgreSQL (through pg). Every write that must be
 * atomic across replicas is one statement: compare-and-set is a conditional
 * UPDATE (or an INSERT ... ON CONFLICT DO NOTHING for the first head), first
 * writer wins is INSERT ... ON CONFLICT DO NOTHING followed by a read, and a
 * lease is an upsert that takes the row over only once it has expired. Lease
 * times use the server's clock, so replicas' clocks need not agree.
 */
import pg from 'pg';
import { isModgateError } from '../../errors.js';
import { checkKey, checkTtl, newToken, unavailable } from '../support.js';
import type { Lease, SharedState } from '../types.js';
import { migrate, type MigrationResult } from './migrate.js';

export interface PgStateOptions {
  pool: pg.PoolConfig;
  replicaId: string;
  /** Called for errors of idle connections (the server went away); they must not crash us. */
  onIdleError?: (err: Error) => void;
}

type Row = Record<string, unknown>;

export class PgState implements SharedState {
  readonly engine = 'postgres';
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    readonly replicaId: string,
    readonly migration: MigrationResult,
  ) {}

  /** Connects, applies pending migrations, and returns the state. */
  static async open(o: PgStateOptions): Promise<PgState> {
    const pool = new pg.Pool(o.pool);
    pool.on('error', (err) => o.onIdleError?.(err));
    try {
      const migration = await migrate(pool);
      return new PgState(pool, o.replicaId, migration);
    } catch (err) {
      await pool.end().catch(() => undefined);
      if (isModgateError(err, 'STATE_SCHEMA_NEWER')) throw err;
      throw unavailable('postgres', 'connecting and migrating', err);
    }
  }

  private async q(what: string, sql: string, params: unknown[]): Promise<pg.QueryResult<Row>> {
    try {
      return await this.pool.query<Row>(sql, params);
    } catch (err) {
      throw unavailable('postgres', what, err);
    }
  }

  async getHead(db: string): Promise<string | null> {
    const r = await this.q(
      'reading the tree head',
      'SELECT note FROM modgate_tree_heads WHERE db = $1',
      [checkKey('database', db)],
    );
    return (r.rows[0]?.note as string | undefined) ?? null;
  }

  async advanceHead(db: string, expected: string | null, next: string): Promise<boolean> {
    checkKey('database', db);
    const r =
      expected === null
        ? await this.q(
            'storing the first tree head',
            `INSERT INTO modgate_tree_heads (db, note, updated_by) VALUES ($1, $2, $3)
             ON CONFLICT (db) DO NOTHING`,
            [db, next, this.replicaId],
          )
        : await this.q(
            'advancing the tree head',
            `UPDATE modgate_tree_heads SET note = $3, updated_at = now(), updated_by = $4
             WHERE db = $1 AND note = $2`,
            [db, expected, next, this.replicaId],
          );
    return r.rowCount === 1;
  }

  async recordFork(db: string, evidence: string): Promise<string> {
    checkKey('database', db);
    await this.q(
      'recording fork evidence',
      `INSERT INTO modgate_forks (db, evidence, recorded_by) VALUES ($1, $2, $3)
       ON CONFLICT (db) DO NOTHING`,
      [db, evidence, this.replicaId],
    );
    return (await this.forkEvidence(db)) ?? evidence;
  }

  async forkEvidence(db: string): Promise<string | null> {
    const r = await this.q(
      'reading fork evidence',
      'SELECT evidence FROM modgate_forks WHERE db = $1',
      [checkKey('database', db)],
    );
    return (r.rows[0]?.evidence as string | undefined) ?? null;
  }

  async claimTofu(key: string, value: string): Promise<string> {
    checkKey('tofu', key);
    await this.q(
      'writing the TOFU ledger',
      `INSERT INTO modgate_tofu (key, value, created_by) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO NOTHING`,
      [key, value, this.replicaId],
    );
    const stored = await this.getTofu(key);
    if (stored === null)
      throw unavailable('postgres', 'reading back the TOFU ledger', 'row vanished');
    return stored;
  }

  async getTofu(key: string): Promise<string | null> {
    const r = await this.q(
      'reading the TOFU ledger',
      'SELECT value FROM modgate_tofu WHERE key = $1',
      [checkKey('tofu', key)],
    );
    return (r.rows[0]?.value as string | undefined) ?? null;
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | null> {
    checkKey('lease', key);
    const token = newToken();
    const r = await this.q(
      'acquiring a lease',
      `INSERT INTO modgate_leases AS l (key, holder, token, expires_at)
       VALUES ($1, $2, $3, clock_timestamp() + $4::int * interval '1 millisecond')
       ON CONFLICT (key) DO UPDATE
         SET holder = EXCLUDED.holder, token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
         WHERE l.expires_at <= clock_timestamp()
       RETURNING (extract(epoch FROM expires_at) * 1000)::float8 AS expires`,
      [key, this.replicaId, token, checkTtl(ttlMs)],
    );
    const row = r.rows[0];
    if (r.rowCount !== 1 || !row) return null;
    return { key, holder: this.replicaId, token, expiresAt: row.expires as number };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const r = await this.q(
      'renewing a lease',
      `UPDATE modgate_leases SET expires_at = clock_timestamp() + $3::int * interval '1 millisecond'
       WHERE key = $1 AND token = $2 AND expires_at > clock_timestamp()
       RETURNING (extract(epoch FROM expires_at) * 1000)::float8 AS expires`,
      [lease.key, lease.token, checkTtl(ttlMs)],
    );
    const row = r.rows[0];
    if (r.rowCount !== 1 || !row) return false;
    lease.expiresAt = row.expires as number;
    return true;
  }

  async release(lease: Lease): Promise<void> {
    await this.q('releasing a lease', 'DELETE FROM modgate_leases WHERE key = $1 AND token = $2', [
      lease.key,
      lease.token,
    ]);
  }

  async holder(key: string): Promise<{ holder: string; expiresAt: number } | null> {
    const r = await this.q(
      'reading a lease',
      `SELECT holder, (extract(epoch FROM expires_at) * 1000)::float8 AS expires
       FROM modgate_leases WHERE key = $1 AND expires_at > clock_timestamp()`,
      [checkKey('lease', key)],
    );
    const row = r.rows[0];
    return row ? { holder: row.holder as string, expiresAt: row.expires as number } : null;
  }

  async check(): Promise<void> {
    await this.q('checking the connection', 'SELECT 1', []);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
