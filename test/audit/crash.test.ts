import t from 'tap';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import type { AuditRecord } from '../../src/audit/records.js';
import { listSegments } from '../../src/audit/segments.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { testdir } from '../helpers/testdir.js';

const fixture = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'fixtures',
  'crash-writer.ts',
);

/** Runs the writer until it has acknowledged `minAcks` records and written a checkpoint, then SIGKILLs it. */
function runAndKill(dir: string, keyFile: string, minAcks: number): Promise<Map<number, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', '@tapjs/typescript/import', fixture, dir, keyFile, '200000'],
      {
        env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const acks = new Map<number, string>();
    let checkpoints = 0;
    let buf = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer too slow: ${acks.size} acks; ${stderr}`));
    }, 60_000);
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
      else reject(new Error(`writer exited (${code}) before being killed: ${stderr}`));
    });
  });
}

async function allRecords(dir: string): Promise<Map<number, AuditRecord>> {
  const out = new Map<number, AuditRecord>();
  for (const s of await listSegments(dir)) {
    for (const l of (await readFile(s.file, 'utf8')).split('\n')) {
      if (!l) continue;
      const r = JSON.parse(l) as AuditRecord;
      out.set(r.seq, r);
    }
  }
  return out;
}

t.test('SIGKILL under load loses no acknowledged record and the trail verifies', async (t) => {
  const root = testdir(t);
  const dir = path.join(root, 'audit');
  const keyFile = path.join(root, 'audit.key');
  const acked = new Map<number, string>();
  for (let round = 0; round < 2; round++) {
    const acks = await runAndKill(dir, keyFile, 1500);
    t.ok(acks.size >= 1500, `round ${round}: ${acks.size} acknowledged`);
    for (const [k, v] of acks) acked.set(k, v);
  }
  const key = await loadOrCreateAuditKey(keyFile);
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  t.equal(log.healthy, true);
  await log.close();
  const v = await verifyAudit({ dir, verifierKey: key.verifierKey });
  t.equal(v.ok, true, JSON.stringify(v.firstBad ?? {}));
  t.ok(v.checkpoints >= 2, `${v.checkpoints} checkpoints verified`);
  const recs = await allRecords(dir);
  let missing = 0;
  for (const [seq, id] of acked) {
    const r = recs.get(seq);
    if (!r || r.type !== 'decision' || r.requestId !== id) missing++;
  }
  t.equal(missing, 0, `all ${acked.size} acknowledged records are present`);
  const starts = [...recs.values()].filter((r) => r.type === 'system' && r.event === 'start');
  t.equal(starts.length, 3, 'two killed writers and the final open');
});
