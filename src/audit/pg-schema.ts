/**
 * The audit tables in PostgreSQL and their versioned migrations, applied at
 * start under a transaction-scoped advisory lock (replicas starting together
 * apply each migration once).
 *
 * - modgate_audit_records: one row per record of one replica's chain, keyed
 *   by (replica, seq). `line` is the record's canonical bytes (what the chain
 *   hashes); `hash` and `time` are derived from it for the writer's restart
 *   and for time-bounded queries, and readers recheck them against `line`.
 * - modgate_audit_checkpoints: the signed checkpoint notes of each replica.
 */
import type { ClientBase } from 'pg';

export const RECORDS_TABLE = 'modgate_audit_records';
export const CHECKPOINTS_TABLE = 'modgate_audit_checkpoints';
const MIGRATIONS_TABLE = 'modgate_audit_migrations';
/** Key of the advisory lock taken while migrating ('mgaudit' in ASCII). */
const MIGRATION_LOCK = 0x6d6761756469;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE ${RECORDS_TABLE} (
     replica text NOT NULL,
     seq bigint NOT NULL CHECK (seq > 0),
     time timestamptz NOT NULL,
     hash text NOT NULL,
     line text NOT NULL,
     PRIMARY KEY (replica, seq)
   );
   CREATE INDEX ${RECORDS_TABLE}_time ON ${RECORDS_TABLE} (time, replica, seq);
   CREATE TABLE ${CHECKPOINTS_TABLE} (
     replica text NOT NULL,
     seq bigint NOT NULL CHECK (seq > 0),
     note text NOT NULL,
     written timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (replica, seq)
   );`,
];

/** The schema version this build writes and reads. */
export const AUDIT_SCHEMA_VERSION = MIGRATIONS.length;

/** Applies the migrations not yet applied; returns the schema version. */
export async function migrateAudit(c: ClientBase): Promise<number> {
  await c.query('BEGIN');
  try {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query(
      `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`,
    );
    const r = await c.query<{ v: number | null }>(
      `SELECT max(version) AS v FROM ${MIGRATIONS_TABLE}`,
    );
    const have = r.rows[0]?.v ?? 0;
    if (have > MIGRATIONS.length)
      throw new Error(
        `the audit tables are at schema version ${have}, newer than this modgate (${MIGRATIONS.length}): upgrade modgate`,
      );
    for (let v = have + 1; v <= MIGRATIONS.length; v++) {
      await c.query(MIGRATIONS[v - 1] as string);
      await c.query(`INSERT INTO ${MIGRATIONS_TABLE} (version) VALUES ($1)`, [v]);
    }
    await c.query('COMMIT');
    return MIGRATIONS.length;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** True when the audit tables exist (readers do not create them). */
export async function auditTablesExist(c: ClientBase): Promise<boolean> {
  const r = await c.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [RECORDS_TABLE]);
  return Boolean(r.rows[0]?.t);
}
