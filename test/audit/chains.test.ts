import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { ChainLock, LOCK_FILE } from '../../src/audit/chain-lock.js';
import { chainDir, listChains, mergeByTime } from '../../src/audit/chains.js';
import type { AuditRecord } from '../../src/audit/records.js';
import { testdir } from '../helpers/testdir.js';
import { stopChild } from '../helpers/child.js';

t.test('listChains: the root chain when it has segments, then worker chains by id', async (t) => {
  const root = testdir(t);
  t.same(await listChains(root), [{ dir: root }], 'an empty folder is its own (empty) chain');
  await mkdir(chainDir(root, 'n-w2'), { recursive: true });
  await mkdir(chainDir(root, 'n-w1'), { recursive: true });
  await mkdir(path.join(root, 'chains', 'bad name'), { recursive: true });
  t.same(
    (await listChains(root)).map((c) => c.replica),
    ['n-w1', 'n-w2'],
    'names outside the replica alphabet are not chains',
  );
  await writeFile(path.join(root, 'audit-000000000001-2026-01-01.jsonl'), '');
  t.same(
    (await listChains(root)).map((c) => c.replica),
    [undefined, 'n-w1', 'n-w2'],
  );
  t.throws(() => chainDir(root, '../x'));
});

t.test('mergeByTime orders by time, then replica, then seq', async (t) => {
  const rec = (seq: number, time: string) => ({ seq, time }) as unknown as AuditRecord;
  async function* of(...r: AuditRecord[]) {
    yield* r;
  }
  const out = [];
  for await (const r of mergeByTime([
    {
      replica: 'b',
      records: of(rec(1, '2026-01-01T00:00:01.000Z'), rec(2, '2026-01-01T00:00:03.000Z')),
    },
    {
      replica: 'a',
      records: of(rec(1, '2026-01-01T00:00:01.000Z'), rec(2, '2026-01-01T00:00:02.000Z')),
    },
  ]))
    out.push(`${r.replica}${r.seq}`);
  t.same(out, ['a1', 'b1', 'a2', 'b2']);
});

t.test('a chain lock: one live writer; a dead one is taken over', async (t) => {
  const dir = testdir(t);
  const mine = new ChainLock(dir, 'n-w1');
  await mine.take();
  await mine.take();
  t.match(await readFile(path.join(dir, LOCK_FILE), 'utf8'), `${process.pid} `);
  // A live process holds it (this test's parent shell stands in for another worker).
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.teardown(() => stopChild(other, 'SIGKILL'));
  const stat = await readFile(`/proc/${other.pid}/stat`, 'utf8');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  await mine.release();
  await writeFile(path.join(dir, LOCK_FILE), `${other.pid} ${start}\n`);
  const busy = new ChainLock(dir, 'n-w1');
  await t.rejects(busy.take(), { code: 'AUDIT_REPLICA_BUSY', message: /n-w1/ });
  // The same pid with another start time is a reused pid: not the writer.
  await writeFile(path.join(dir, LOCK_FILE), `${other.pid} 1\n`);
  await t.resolves(busy.take(), 'a reused pid does not hold the chain');
  await busy.release();
  other.kill('SIGKILL');
  await new Promise((r) => other.once('exit', r));
  await writeFile(path.join(dir, LOCK_FILE), `${other.pid} ${start}\n`);
  await t.resolves(new ChainLock(dir, 'n-w1').take(), "a dead writer's lock is taken over");
});
