/**
 * SIGKILL of replicas writing under load to PostgreSQL: every acknowledged
 * record is in its chain, each chain verifies, and the next start continues
 * it (mirrors crash.test.ts for the fs store).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import { verifyPostgres } from '../../src/audit/pg-read.js';
import { PgChainStore } from '../../src/audit/pg-store.js';
import type { AuditRecord } from '../../src/audit/records.js';
import { startPostgres } from '../helpers/postgres.js';
import { testdir } from '../helpers/testdir.js';

const fixture = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'fixtures',
  'pg-crash-writer.ts',
);

/** Runs a writer until it has `minAcks` acknowledged records and a checkpoint, then SIGKILLs it. */
function runAndKill(url: string, replica: string, keyFile: string, minAcks: number) {
  return new Promise<Map<number, string>>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', '@tapjs/typescript/import', fixture, url, replica, keyFile, '200000'],
      { env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const acks = new Map<number, string>();
    let checkpoints = 0;
    let buf = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer too slow: ${acks.size} acks; ${stderr}`));
    }, 90_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const p of parts) {
        const [seq, id] = p.split(' ');
        if (seq === 'cp') checkpoints++;
        else acks.set(Number(seq), id ?? '');
      }
      if (!killed && acks.size >= minAcks && checkpoints >= 1) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(acks);
      else reject(new Error(`writer ${replica} exited (${code}) before being killed: ${stderr}`));
    });
  });
}

/** Waits until the server has ended the killed writers' sessions (their locks go with them). */
async function sessionsGone(c: pg.Client): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const r = await c.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name LIKE 'modgate-audit %'",
    );
    if (r.rows[0]?.n === '0') return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('writer sessions did not end');
}

t.test('SIGKILL of two replicas under load loses no acknowledged record', async (t) => {
  const server = await startPostgres();
  t.teardown(() => server.stop());
  const url = await server.createDatabase('crash');
  const keyFile = path.join(testdir(t), 'audit.key');
  const key = await loadOrCreateAuditKey(keyFile);
  const acked = new Map<string, Map<number, string>>([
    ['a', new Map()],
    ['b', new Map()],
  ]);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  t.teardown(() => c.end());
  for (let round = 0; round < 2; round++) {
    const runs = await Promise.all(
      ['a', 'b'].map((r) => runAndKill(url, r, keyFile, 1500).then((acks) => ({ r, acks }))),
    );
    for (const { r, acks } of runs) {
      t.ok(acks.size >= 1500, `round ${round}, replica ${r}: ${acks.size} acknowledged`);
      for (const [k, v] of acks) acked.get(r)?.set(k, v);
    }
    await sessionsGone(c);
  }
  for (const replica of ['a', 'b']) {
    const log = await AuditLog.open({
      store: new PgChainStore({ url, replica, verifierKey: key.verifierKey }),
      key,
      checkpointIntervalSec: 0,
    });
    t.equal(log.healthy, true, `replica ${replica} continues its chain: ${log.lastError?.message}`);
    await log.close();
  }
  const v = await verifyPostgres(c, { verifierKey: key.verifierKey });
  t.equal(v.ok, true, JSON.stringify(v.replicas.map((r) => r.firstBad)));
  t.same(
    v.replicas.map((r) => r.replica),
    ['a', 'b'],
  );
  for (const r of v.replicas)
    t.ok(r.checkpoints >= 2, `${r.replica}: ${r.checkpoints} checkpoints`);
  for (const [replica, acks] of acked) {
    const rows = await c.query<{ line: string }>(
      'SELECT line FROM modgate_audit_records WHERE replica = $1',
      [replica],
    );
    const recs = new Map(
      rows.rows.map((x) => JSON.parse(x.line) as AuditRecord).map((x) => [x.seq, x]),
    );
    let missing = 0;
    for (const [seq, id] of acks) {
      const rec = recs.get(seq);
      if (!rec || rec.type !== 'decision' || rec.requestId !== id) missing++;
    }
    t.equal(missing, 0, `replica ${replica}: all ${acks.size} acknowledged records are present`);
    const starts = [...recs.values()].filter((x) => x.type === 'system' && x.event === 'start');
    t.equal(starts.length, 3, `replica ${replica}: two killed writers and the final open`);
  }
});
