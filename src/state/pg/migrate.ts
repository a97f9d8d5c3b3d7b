/**
 * Applies the shared-state migrations at start. Several replicas may start at
 * once: the whole check-and-apply runs in one transaction under a
 * transaction-scoped advisory lock, so one applies and the others then see the
 * result. A database whose schema is newer than this code stops the start.
 *
 * Error codes:
 * | code               | meaning                                                         |
 * |--------------------|-----------------------------------------------------------------|
 * | STATE_SCHEMA_NEWER | the database was migrated by a newer modgate; upgrade this one  |
 */
import type { Pool } from 'pg';
import { ModgateError } from '../../errors.js';
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations.js';

/** pg_advisory_xact_lock key: "modgate" in ASCII, shared by every modgate release. */
export const MIGRATION_LOCK = '30803249483314277';

export const SCHEMA_TABLE = 'modgate_state_schema';

export interface MigrationResult {
  from: number;
  to: number;
  applied: number[];
}

export async function migrate(
  pool: Pool,
  migrations: readonly Migration[] = MIGRATIONS,
  latest = SCHEMA_VERSION,
): Promise<MigrationResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ v: number }>(
      `SELECT coalesce(max(version), 0)::int AS v FROM ${SCHEMA_TABLE}`,
    );
    const from = rows[0]?.v ?? 0;
    if (from > latest) {
      throw new ModgateError(
        'STATE_SCHEMA_NEWER',
        `the shared-state database has schema version ${from}, newer than this modgate understands (${latest}): ` +
          'a newer release migrated it; run that release (or newer) on every replica',
        { found: from, supported: latest },
      );
    }
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= from) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${SCHEMA_TABLE} (version, name) VALUES ($1, $2)`, [
        m.version,
        m.name,
      ]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return { from, to: Math.max(from, ...applied), applied };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
