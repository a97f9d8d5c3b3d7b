/**
 * Opens the shared state a config names: local files under dataDir (one node)
 * or PostgreSQL (replicas). The PostgreSQL password never comes from the config
 * file: passwordFile, PGPASSWORD or ~/.pgpass (pg reads the last two itself).
 *
 * Error codes:
 * | code           | meaning                                                        |
 * |----------------|----------------------------------------------------------------|
 * | CONFIG_INVALID | state.postgres.url holds a password, or passwordFile is empty  |
 * | FILE_UNREADABLE| state.postgres.passwordFile cannot be read                     |
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type pg from 'pg';
import type { ModgateConfig } from '../config/types.js';
import { ModgateError } from '../errors.js';
import type { LocalCoordination } from './coordinator.js';
import { LocalState } from './local.js';
import type { SharedState } from './types.js';

export interface StateLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** The replica id: cluster.replicaId, else the host name (made safe). */
export function replicaIdOf(config: ModgateConfig): string {
  if (config.cluster.replicaId) return config.cluster.replicaId;
  const host = os
    .hostname()
    .replace(/[^A-Za-z0-9._:-]/g, '-')
    .slice(0, 128);
  return host || 'modgate';
}

/** The password state.postgres.passwordFile holds (first line), or undefined. */
export function readPasswordFile(config: ModgateConfig): string | undefined {
  const file = config.state.postgres.passwordFile;
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ModgateError(
      'FILE_UNREADABLE',
      `state.postgres.passwordFile ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      { file },
    );
  }
  const password = text.split(/\r?\n/)[0] ?? '';
  if (!password)
    throw new ModgateError('CONFIG_INVALID', `state.postgres.passwordFile ${file} is empty`);
  return password;
}

/** The pg pool settings of a config; refuses a password in the URL. */
export function poolConfig(config: ModgateConfig, replicaId: string): pg.PoolConfig {
  const p = config.state.postgres;
  let connectionString: string | undefined;
  const password = readPasswordFile(config);
  if (p.url) {
    let url: URL;
    try {
      url = new URL(p.url);
    } catch {
      throw new ModgateError('CONFIG_INVALID', 'state.postgres.url is not a URL');
    }
    if (url.password || url.searchParams.has('password')) {
      throw new ModgateError(
        'CONFIG_INVALID',
        'state.postgres.url holds a password: put it in state.postgres.passwordFile, PGPASSWORD or ~/.pgpass instead',
      );
    }
    // pg lets the connection string's (absent) password override a separate one: join them here.
    if (password) url.password = password;
    connectionString = url.toString();
  }
  return {
    ...(connectionString ? { connectionString } : password ? { password } : {}),
    max: p.poolSize,
    connectionTimeoutMillis: p.connectTimeoutMs,
    statement_timeout: p.statementTimeoutMs,
    query_timeout: p.statementTimeoutMs + 1000,
    idleTimeoutMillis: 30_000,
    application_name: `modgate ${replicaId}`.slice(0, 63),
  };
}

export async function openState(
  config: ModgateConfig,
  logger: StateLogger,
  coordinator?: LocalCoordination,
): Promise<SharedState> {
  const replicaId = replicaIdOf(config);
  if (config.state.kind === 'local')
    return new LocalState({
      dir: config.dataDir,
      replicaId,
      ...(coordinator ? { coordinator } : {}),
    });
  const { PgState } = await import('./pg/state.js');
  const state = await PgState.open({
    pool: poolConfig(config, replicaId),
    replicaId,
    onIdleError: (err) =>
      logger.warn({ err: err.message }, 'shared state (postgres): an idle connection failed'),
  });
  const m = state.migration;
  logger.info(
    { replicaId, schema: m.to, applied: m.applied },
    m.applied.length
      ? `shared state (postgres): schema migrated from ${m.from} to ${m.to}`
      : `shared state (postgres): schema ${m.to}`,
  );
  return state;
}
