import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { LocalState } from '../../src/state/local.js';
import { stateContract } from './contract.js';

const dirs: string[] = [];
t.teardown(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function freshDir() {
  const d = await mkdtemp(path.join(os.tmpdir(), 'modgate-state-'));
  dirs.push(d);
  return d;
}

stateContract(t, {
  async replicas(n) {
    const dir = await freshDir();
    return Array.from({ length: n }, (_, i) => new LocalState({ dir, replicaId: `local-${i}` }));
  },
  async expire(ms) {
    // Leases of the local engine run on the process clock: wait for the ttl to pass.
    const until = Date.now() + ms + 5;
    while (Date.now() < until) await new Promise((r) => setTimeout(r, until - Date.now() + 1));
  },
});

t.test('files keep the layout of earlier versions', async (t) => {
  const dir = await freshDir();
  const s = new LocalState({ dir, replicaId: 'r' });
  await s.advanceHead('sum.example.test', null, 'note\n');
  t.equal(await readFile(path.join(dir, 'sumdb', 'sum.example.test', 'latest'), 'utf8'), 'note\n');
  await s.claimTofu('ab'.repeat(32), 'sealed');
  t.equal(
    await readFile(path.join(dir, 'store', 'tofu', `${'ab'.repeat(32)}.json`), 'utf8'),
    'sealed',
  );
  await s.recordFork('sum.example.test', '{"fork":1}');
  t.equal(
    await readFile(path.join(dir, 'sumdb', 'sum.example.test', 'fork.json'), 'utf8'),
    '{"fork":1}',
  );
});

t.test('a folder that cannot be written refuses with STATE_UNAVAILABLE', async (t) => {
  const dir = await freshDir();
  const file = path.join(dir, 'not-a-dir');
  await (await import('node:fs/promises')).writeFile(file, 'x');
  const s = new LocalState({ dir: file, replicaId: 'r' });
  await t.rejects(s.advanceHead('db.test', null, 'n'), {
    code: 'STATE_UNAVAILABLE',
    message: /local/,
  });
  await t.rejects(s.check(), { code: 'STATE_UNAVAILABLE' });
});
