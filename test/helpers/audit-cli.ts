/** Shared by the audit CLI tests: a gateway-like data folder and the one-line failure check. */
import type { Test } from 'tap';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import type { DecisionEntry } from '../../src/audit/records.js';
import type { CliResult } from './cli.js';
import { testdir } from './testdir.js';

export const env = { GOPROXY: 'off', GOSUMDB: 'off', MODGATE_CONFIG: '' };

export function decision(i: number): DecisionEntry {
  return {
    type: 'decision',
    time: new Date().toISOString(),
    requestId: `req-${i}`,
    client: { id: 'ci', method: 'bearer', groups: [], address: '127.0.0.1' },
    kind: i % 2 ? 'mod' : 'zip',
    module: 'example.com/m',
    version: `v1.0.${i}`,
    decision: i % 3 ? 'allow' : 'warn',
    codes: i % 3 ? [] : ['LICENSE_UNKNOWN'],
    policyRevision: 'p1',
    cache: 'miss',
  };
}

/** A gateway-like data folder: data/keys/audit.key and data/audit with two checkpoints. */
export async function dataDir(
  t: Test,
): Promise<{ data: string; verifierKey: string; cwd: string }> {
  const root = testdir(t);
  const data = path.join(root, 'data');
  const key = await loadOrCreateAuditKey(path.join(data, 'keys', 'audit.key'));
  const log = await AuditLog.open({ dir: path.join(data, 'audit'), key, checkpointIntervalSec: 0 });
  for (let i = 0; i < 6; i++) await log.append(decision(i));
  await log.checkpoint();
  for (let i = 6; i < 9; i++) await log.append(decision(i));
  await log.close();
  // Commands run from an unrelated folder with no ./data of its own.
  const cwd = path.join(root, 'elsewhere');
  await mkdir(cwd);
  return { data, verifierKey: key.verifierKey, cwd };
}

/** Asserts the failure contract: exit 1 and exactly one `error: CODE: message` line on stderr. */
export function failsWith(t: Test, r: CliResult, code: string, what: string): string {
  t.equal(r.code, 1, `${what}: exit 1`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 1, `${what}: one stderr line, got ${JSON.stringify(r.stderr)}`);
  t.match(lines[0], new RegExp(`^error: ${code}: \\S`), `${what}: error: ${code}: ...`);
  t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  return lines[0] ?? '';
}
