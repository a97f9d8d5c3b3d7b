/**
 * Audit append throughput (records/s acknowledged) with 64 appends in flight,
 * on the fs store and on PostgreSQL (MODGATE_BENCH_POSTGRES=postgres://…, a
 * server with fsync on for a like-for-like figure). Without the variable only
 * the fs figure is reported.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadOrCreateAuditKey, type AuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import type { AuditLogOptions } from '../../src/audit/log-options.js';
import { PgChainStore } from '../../src/audit/pg-store.js';
import type { DecisionEntry } from '../../src/audit/records.js';
import type { Result } from '../report.js';

const RECORDS = 20_000;
const IN_FLIGHT = 64;

function entry(i: number): DecisionEntry {
  return {
    type: 'decision',
    time: new Date().toISOString(),
    requestId: `bench-${i}`,
    client: { id: 'bench', method: 'token', groups: ['dev'], address: '127.0.0.1' },
    kind: 'zip',
    module: `example.com/bench/m${i % 100}`,
    version: `v1.2.${i}`,
    decision: 'allow',
    codes: [],
    policyRevision: 'bench',
    cache: 'miss',
    evidence: { h1: 'h1:' + 'A'.repeat(43) + '=', zipSha256: 'ab'.repeat(32) },
  };
}

async function rate(opts: AuditLogOptions): Promise<{ perSecond: number; perBatch: number }> {
  const log = await AuditLog.open({ ...opts, checkpointIntervalSec: 0 });
  if (!log.healthy) throw new Error(`audit log unhealthy: ${log.lastError?.message}`);
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < RECORDS) await log.append(entry(next++));
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const perBatch = log.stats.records / Math.max(1, log.stats.batches);
  await log.close();
  return { perSecond: RECORDS / seconds, perBatch };
}

async function freshReplica(url: string): Promise<string> {
  const replica = `bench-${process.pid}-${Date.now()}`;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const r = await c.query<{ fsync: string }>('SHOW fsync');
  await c.end();
  if (r.rows[0]?.fsync !== 'on')
    process.stderr.write('note: the PostgreSQL server runs with fsync off\n');
  return replica;
}

export async function auditAppend(): Promise<Result[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-bench-audit-'));
  try {
    const key: AuditKey = await loadOrCreateAuditKey(path.join(dir, 'audit.key'));
    const fs = await rate({ dir: path.join(dir, 'audit'), key });
    const out: Result[] = [
      {
        id: 'audit-fs',
        label: `audit appends/s, fs (${IN_FLIGHT} in flight)`,
        value: Math.round(fs.perSecond),
        unit: 'records/s',
        note: `${fs.perBatch.toFixed(1)} records per fsync`,
      },
    ];
    const url = process.env.MODGATE_BENCH_POSTGRES;
    if (url) {
      const replica = await freshReplica(url);
      const store = new PgChainStore({ url, replica, verifierKey: key.verifierKey });
      const p = await rate({ store, key });
      out.push(
        {
          id: 'audit-postgres',
          label: `audit appends/s, postgres (${IN_FLIGHT} in flight)`,
          value: Math.round(p.perSecond),
          unit: 'records/s',
          note: `${p.perBatch.toFixed(1)} records per commit`,
        },
        {
          id: 'audit-ratio',
          label: 'audit appends, postgres/fs',
          value: Number((p.perSecond / fs.perSecond).toFixed(2)),
          unit: '×',
        },
      );
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
