import t from 'tap';
import type { Test } from 'tap';
import { cp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import YAML from 'yaml';
import { PolicyPool, type PoolOptions } from '../../src/policy/pool.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { RegoGate } from '../../src/policy/gate.js';
import { compileData } from '../../src/policy/data.js';
import { buildInput } from '../../src/policy/input.js';
import type { DecisionRequest } from '../../src/contracts.js';
import { repoRoot } from '../helpers/testdata.js';
import { testdir } from '../helpers/testdir.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const SLOW = path.join(repoRoot, 'test', 'fixtures', 'policies-slow');
const identity = { id: 'ci', method: 'bearer' as const, groups: [] as string[] };
const zip = (module: string, version = 'v1.0.0'): DecisionRequest => ({
  kind: 'zip',
  module,
  version,
  identity,
  facts: { zipSize: 10, checksum: { verified: true, method: 'sumdb' } },
});

async function pool(t: Test, src: string, opts: PoolOptions & { dataFile?: string } = {}) {
  const { dataFile, ...o } = opts;
  const p = await PolicyPool.load({ path: src, ...(dataFile ? { dataFile } : {}) }, o);
  t.teardown(() => p.close());
  return p;
}

const codes = (d: { deny: Array<{ code: string }> }) => d.deny.map((r) => r.code);

t.test(
  'a decision over its budget is POLICY_ERROR; its worker is replaced; others are served',
  async (t) => {
    const lost: string[] = [];
    let replaced!: () => void;
    const back = new Promise<void>((r) => (replaced = r));
    const p = await pool(t, SLOW, {
      workers: 2,
      budgetMs: 1000,
      onWorkerLost: (why) => lost.push(why),
      onWorkerReplaced: () => replaced(),
    });
    t.same((await p.run(zip('fast.example/m'), NOW)).decision, { allow: true, deny: [], warn: [] });
    const t0 = performance.now();
    const slow = await p.run(zip('slow.example/m'), NOW);
    const ms = performance.now() - t0;
    t.match(slow.decision, {
      allow: false,
      deny: [{ code: 'POLICY_ERROR', message: /over its 1000 ms budget/ }],
    });
    t.ok(ms < 5000, `answered after ${ms.toFixed(0)} ms, long before the policy would finish`);
    t.same(lost, ['over budget'], 'the overrunning worker was stopped');
    t.equal(p.workers, 1);
    t.ok((await p.run(zip('fast.example/m'), NOW)).decision.allow, 'the other worker serves');
    await back;
    t.equal(p.workers, 2, 'a new worker took its place');
    t.ok((await p.run(zip('fast.example/other'), NOW)).decision.allow);
  },
);

t.test('with one worker, decisions wait for the replacement instead of failing', async (t) => {
  const p = await pool(t, SLOW, { workers: 1, budgetMs: 1000 });
  const [slow, fast] = await Promise.all([
    p.run(zip('slow.example/m'), NOW),
    p.run(zip('fast.example/m'), NOW),
  ]);
  t.same(codes(slow.decision), ['POLICY_ERROR']);
  t.ok(fast.decision.allow, 'queued behind the overrun, served by the replacement');
});

t.test(
  'the gate denies an overrun, reports it as a policy error and never caches it',
  async (t) => {
    const p = await pool(t, SLOW, { workers: 1, budgetMs: 1000 });
    const errors: string[] = [];
    const gate = new RegoGate(p, {
      mode: 'enforce',
      onPolicyError: (req, d) => errors.push(`${req.module} ${codes(d).join()}`),
    });
    const d = await gate.decide(zip('slow.example/m'));
    t.match(d, {
      allow: false,
      deny: [{ code: 'POLICY_ERROR' }],
      policyRevision: p.policyRevision,
    });
    t.same(errors, ['slow.example/m POLICY_ERROR']);
    t.equal(gate.cache.size, 0, 'not cached');
    const dry = new RegoGate(p, { mode: 'dry-run' });
    t.ok((await dry.decide(zip('fast.example/m'))).allow);
    t.ok((await gate.decide(zip('fast.example/m'))).allow);
    t.equal(gate.cache.size, 1, 'a good decision is cached');
  },
);

t.test('an in-thread engine over its budget denies too (detected after the run)', async (t) => {
  const engine = await PolicyEngine.load({ path: path.join(repoRoot, 'policies') });
  t.teardown(() => engine.close());
  const errors: string[] = [];
  const gate = new RegoGate(engine, {
    mode: 'enforce',
    budgetMs: 0.000001,
    onPolicyError: (req) => errors.push(req.module),
  });
  const d = await gate.decide(zip('example.com/m'));
  t.match(d.deny, [{ code: 'POLICY_ERROR', message: /budget/ }]);
  t.same(errors, ['example.com/m']);
  t.equal(gate.cache.size, 0);
  const roomy = new RegoGate(engine, { mode: 'enforce' });
  t.ok((await roomy.decide(zip('example.com/m'))).allow);
});

t.test('50,000 waivers: decisions stay correct and see only the matching waivers', async (t) => {
  const expires = '2027-01-01T00:00:00Z';
  const data = {
    banned: [{ module: 'example.com', versions: '*', reason: 'freeze' }],
    waivers: [
      ...Array.from({ length: 49_000 }, (_, i) => ({
        module: `example.com/w${i}`,
        versions: 'v1.0.0',
        reason: `INC-${i}`,
        expires,
      })),
      ...Array.from({ length: 1000 }, (_, i) => ({
        module: `example.com/g${i}/*`,
        versions: '*',
        reason: `GLOB-${i}`,
        expires,
      })),
    ],
  };
  const dataFile = path.join(testdir(t), 'data.yaml');
  await writeFile(dataFile, YAML.stringify(data));

  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const p = await pool(t, path.join(repoRoot, 'policies'), { workers: 1, dataFile });
  const gate = new RegoGate(p, { mode: 'enforce', now: () => NOW });
  const waived = await gate.decide(zip('example.com/w31337'));
  t.match(waived, { allow: true, warn: [{ code: 'WAIVED', message: /INC-31337/ }] });
  t.match(await gate.decide(zip('example.com/w31337', 'v1.0.1')), {
    allow: false,
    deny: [{ code: 'VERSION_BANNED' }],
  });
  t.match(await gate.decide(zip('example.com/g77/sub', 'v2.3.4')), {
    allow: true,
    warn: [{ code: 'WAIVED', message: /GLOB-77\)/ }],
  });
  t.match(await gate.decide(zip('example.com/other')), {
    allow: false,
    deny: [{ code: 'VERSION_BANNED' }],
  });
  t.ok((await gate.decide(zip('elsewhere.example/m'))).allow);
  delay.disable();
  t.comment(`main event loop: worst delay ${(delay.max / 1e6).toFixed(1)} ms (see npm run bench)`);
  t.notOk('waivers' in p.settings, 'the waivers stay in the worker, not on the main thread');
  t.throws(() => gate.engineDataCompiled(), { code: 'POLICY_ERROR' });

  // What reaches the wasm: the host's match holds only the waivers of this module and version.
  const compiled = compileData(data);
  const input = (m: string, v = 'v1.0.0') => buildInput(zip(m, v), compiled, NOW).match.waivers;
  t.same(
    input('example.com/w31337').map((w) => w.reason),
    ['INC-31337'],
  );
  t.same(input('example.com/w31337', 'v1.0.1'), []);
  t.same(
    input('example.com/g77/sub/pkg', 'v9.0.0').map((w) => w.reason),
    ['GLOB-77'],
  );
  t.same(input('example.com/other'), []);
});

t.test('reload swaps in a new generation; bad data keeps the running one', async (t) => {
  const dir = testdir(t);
  const policies = path.join(dir, 'policies');
  await cp(path.join(repoRoot, 'policies'), policies, { recursive: true });
  const dataFile = path.join(policies, 'data.yaml');
  const events: boolean[] = [];
  const p = await pool(t, policies, { workers: 2, onReload: (e) => events.push(e.ok) });
  const before = p.dataRevision;
  t.ok((await p.run(zip('example.com/lib'), NOW)).decision.allow);
  await writeFile(dataFile, 'banned: [not, a, mapping]\n');
  t.equal(await p.reload(), false);
  t.equal(p.dataRevision, before, 'the running data stays');
  t.equal(p.workers, 2);
  t.ok((await p.run(zip('example.com/lib'), NOW)).decision.allow);
  await writeFile(
    dataFile,
    YAML.stringify({ banned: [{ module: 'example.com/lib', versions: '*', reason: 'r' }] }),
  );
  t.equal(await p.reload(), true);
  t.not(p.dataRevision, before);
  const after = await p.run(zip('example.com/lib'), NOW);
  t.same(codes(after.decision), ['VERSION_BANNED']);
  t.equal(after.dataRevision, p.dataRevision, 'the decision names the revision that made it');
  t.same(events, [false, true]);
});

t.test('the watcher reloads on a change of the data file', async (t) => {
  const dir = testdir(t);
  const policies = path.join(dir, 'policies');
  await cp(path.join(repoRoot, 'policies'), policies, { recursive: true });
  let reloaded!: () => void;
  const done = new Promise<void>((r) => (reloaded = r));
  const p = await pool(t, policies, { workers: 1, onReload: (e) => e.ok && reloaded() });
  p.watch(50, 200);
  await writeFile(
    path.join(policies, 'data.yaml'),
    YAML.stringify({ sources: { deny: ['example.com'] } }),
  );
  await done;
  t.same(codes((await p.run(zip('example.com/lib'), NOW)).decision), ['SOURCE_DENIED']);
});

t.test('a load failure rejects with its own code', async (t) => {
  const dir = testdir(t);
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, 'minReleaseAgeHours: soon\n');
  await t.rejects(
    PolicyPool.load({ path: path.join(repoRoot, 'policies'), dataFile }, { workers: 2 }),
    { code: 'POLICY_DATA_INVALID' },
  );
  const bad = path.join(dir, 'bad');
  await cp(path.join(repoRoot, 'policies'), bad, { recursive: true });
  await writeFile(path.join(bad, 'build', 'policy.wasm'), 'not wasm');
  await t.rejects(PolicyPool.load({ path: bad }, { workers: 1 }), { code: 'POLICY_LOAD_FAILED' });
});

t.test('close fails waiting decisions closed and refuses new ones', async (t) => {
  const p = await PolicyPool.load({ path: SLOW }, { workers: 1, budgetMs: 10_000 });
  const busy = p.run(zip('slow.example/m'), NOW);
  const queued = p.run(zip('fast.example/m'), NOW);
  await p.close();
  t.same(codes((await busy).decision), ['POLICY_ERROR']);
  t.same(codes((await queued).decision), ['POLICY_ERROR']);
  t.match((await p.run(zip('fast.example/m'), NOW)).decision.deny, [{ message: /closed/ }]);
});
