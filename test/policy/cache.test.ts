import t from 'tap';
import type { Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { PolicyEngine } from '../../src/policy/engine.js';
import { RegoGate } from '../../src/policy/gate.js';
import { DecisionCache } from '../../src/policy/cache.js';
import type { DecisionRequest } from '../../src/contracts.js';
import { repoRoot } from '../helpers/testdata.js';
import { testdir } from '../helpers/testdir.js';

const identity = { id: 'ci', method: 'bearer' as const, groups: [] as string[] };
const zip = (version: string, publishTime = '2026-01-01T00:00:00Z'): DecisionRequest => ({
  kind: 'zip',
  module: 'example.com/lib',
  version,
  identity,
  facts: { publishTime, zipSize: 10, checksum: { verified: true, method: 'sumdb' } },
});

/** A gate over the shipped policy whose clock the test sets, counting real evaluations. */
async function setup(t: Test, data: Record<string, unknown>, cacheEntries?: number) {
  const dataFile = path.join(testdir(t), 'data.yaml');
  await writeFile(dataFile, YAML.stringify(data));
  const engine = await PolicyEngine.load({ path: path.join(repoRoot, 'policies'), dataFile });
  t.teardown(() => engine.close());
  let evaluations = 0;
  const evaluate = engine.evaluate.bind(engine);
  engine.evaluate = (input) => {
    evaluations++;
    return evaluate(input);
  };
  const clock = { now: new Date('2026-06-01T00:00:00Z') };
  const gate = new RegoGate(engine, {
    mode: 'enforce',
    now: () => clock.now,
    ...(cacheEntries !== undefined ? { cacheEntries } : {}),
  });
  return { engine, gate, clock, dataFile, evaluations: () => evaluations };
}

const at = (iso: string) => new Date(iso);

t.test('a cache hit skips evaluation; the request time is not part of the key', async (t) => {
  const { gate, clock, evaluations } = await setup(t, {});
  t.ok(gate.evaluate(zip('v1.0.0')).allow);
  t.equal(evaluations(), 1);
  clock.now = at('2026-06-01T00:01:00Z');
  t.ok(gate.evaluate(zip('v1.0.0')).allow);
  t.equal(evaluations(), 1, 'answered from the cache');
  t.equal(gate.hits, 1);
  t.equal(gate.misses, 1);
  gate.evaluate(zip('v1.0.1'));
  gate.evaluate({ ...zip('v1.0.0'), kind: 'mod' });
  gate.evaluate({ ...zip('v1.0.0'), identity: { ...identity, id: 'other' } });
  t.equal(evaluations(), 4, 'version, kind and identity are part of the key');
  clock.now = at('2026-06-01T00:06:00Z');
  gate.evaluate(zip('v1.0.0'));
  t.equal(evaluations(), 5, 'an entry lives five minutes at most');
});

t.test('an entry expires when a waiver does; the decision then changes', async (t) => {
  const { gate, clock, evaluations } = await setup(t, {
    banned: [{ module: 'example.com/lib', versions: 'v1.0.0', reason: 'CVE' }],
    waivers: [
      {
        module: 'example.com/lib',
        versions: 'v1.0.0',
        reason: 'INC',
        expires: '2026-06-01T00:02:00Z',
      },
    ],
  });
  t.ok(gate.evaluate(zip('v1.0.0')).allow);
  clock.now = at('2026-06-01T00:01:59Z');
  t.ok(gate.evaluate(zip('v1.0.0')).allow);
  t.equal(evaluations(), 1);
  clock.now = at('2026-06-01T00:02:00Z');
  t.match(gate.evaluate(zip('v1.0.0')), { allow: false, deny: [{ code: 'VERSION_BANNED' }] });
  t.equal(evaluations(), 2);
});

t.test('an entry expires when a cool-down ends; the decision then changes', async (t) => {
  const { gate, clock, evaluations } = await setup(t, { minReleaseAgeHours: 1 });
  const young = zip('v1.0.0', '2026-05-31T23:02:00Z');
  t.match(gate.evaluate(young), { allow: false, deny: [{ code: 'MIN_RELEASE_AGE' }] });
  clock.now = at('2026-06-01T00:01:59Z');
  t.notOk(gate.evaluate(young).allow);
  t.equal(evaluations(), 1);
  clock.now = at('2026-06-01T00:02:00Z');
  t.ok(gate.evaluate(young).allow, 'the cool-down has ended');
  t.equal(evaluations(), 2);
});

t.test('a data reload changes the revision and so the key', async (t) => {
  const { engine, gate, dataFile, evaluations } = await setup(t, {});
  t.ok(gate.evaluate(zip('v1.0.0')).allow);
  await writeFile(dataFile, YAML.stringify({ sources: { deny: ['example.com'] } }));
  t.ok(await engine.reload());
  t.match(gate.evaluate(zip('v1.0.0')), { allow: false, deny: [{ code: 'SOURCE_DENIED' }] });
  t.equal(evaluations(), 2);
});

t.test('POLICY_ERROR is never cached', async (t) => {
  const { engine, gate, evaluations } = await setup(t, {});
  const evaluate = engine.evaluate;
  engine.evaluate = (input) => {
    evaluate(input);
    return { allow: false, deny: [{ code: 'POLICY_ERROR', message: 'boom' }], warn: [] };
  };
  gate.evaluate(zip('v1.0.0'));
  gate.evaluate(zip('v1.0.0'));
  t.equal(evaluations(), 2);
  t.equal(gate.cache.size, 0);
});

t.test('the cache is bounded (least recently used out) and can be turned off', async (t) => {
  const { gate, evaluations } = await setup(t, {}, 2);
  gate.evaluate(zip('v1.0.0'));
  gate.evaluate(zip('v1.0.1'));
  gate.evaluate(zip('v1.0.0'));
  gate.evaluate(zip('v1.0.2'));
  t.equal(gate.cache.size, 2);
  t.equal(evaluations(), 3);
  gate.evaluate(zip('v1.0.0'));
  t.equal(evaluations(), 3, 'the recently used entry stayed');
  gate.evaluate(zip('v1.0.1'));
  t.equal(evaluations(), 4, 'the least recently used entry left');
  const off = await setup(t, {}, 0);
  off.gate.evaluate(zip('v1.0.0'));
  off.gate.evaluate(zip('v1.0.0'));
  t.equal(off.evaluations(), 2);
});

t.test('DecisionCache on its own: key, validity window, clear', async (t) => {
  const a = zip('v1.0.0');
  const key = (r: DecisionRequest, p = 'p', d = 'd') => DecisionCache.requestKey(p, d, r);
  t.equal(key(a), key(zip('v1.0.0')));
  t.not(key(a), key(a, 'p2'));
  t.not(key(a), key(a, 'p', 'd2'));
  t.not(key(a), key({ ...a, facts: { ...a.facts, retracted: true } }), 'facts are part of it');
  t.not(key(a), key({ ...a, identity: { ...identity, groups: ['g'] } }), 'groups are part of it');
  t.equal(
    key({ ...a, facts: { ...a.facts, publishTime: '2026-01-01T00:00:00Z' } }),
    key(a),
    'the same facts give the same key',
  );
  const cache = new DecisionCache(10, 60);
  const d = { allow: true, deny: [], warn: [] };
  cache.set('k', d, 1000, 1030);
  t.equal(cache.get('k', 1029), d);
  t.equal(cache.get('k', 1030), undefined, 'gone at the boundary');
  cache.set('k', d, 1000);
  t.equal(cache.get('k', 1059), d);
  t.equal(cache.get('k', 1060), undefined, 'gone after the longest life');
  cache.set('k', d, 1000, 1000);
  t.equal(cache.size, 0, 'a decision already at its boundary is not stored');
  cache.set('k', d, 1000);
  cache.clear();
  t.equal(cache.get('k', 1000), undefined);
});
