import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { compileData } from '../../src/policy/data.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { RegoGate } from '../../src/policy/gate.js';
import { factsNeeded } from '../../src/policy/needs.js';
import { bundle } from '../helpers/bundle.js';
import { repoRoot } from '../helpers/testdata.js';
import { testdir } from '../helpers/testdir.js';

const sorted = (s: ReadonlySet<string>) => [...s].sort();

t.test('the shipped rules need the facts their settings switch on', async (t) => {
  t.same(sorted(factsNeeded({}, false)), [], 'defaults: no fact holds a zip back');
  t.same(sorted(factsNeeded({ minReleaseAgeHours: 0, denyRetracted: false }, false)), []);
  t.same(sorted(factsNeeded({ minReleaseAgeHours: 24 }, false)), ['publishTime']);
  t.same(sorted(factsNeeded({ denyRetracted: true }, false)), ['retracted']);
  t.same(sorted(factsNeeded({ minReleaseAgeHours: 1, denyRetracted: true }, false)), [
    'publishTime',
    'retracted',
  ]);
  // Thresholds that switch no fact rule on.
  t.same(sorted(factsNeeded({ maxZipBytes: 10, pseudoVersions: 'deny' }, false)), []);
});

t.test("needsFacts declares what an operator's own rules read", async (t) => {
  t.same(sorted(factsNeeded({ needsFacts: ['deprecated'] }, false)), ['deprecated']);
  t.same(
    sorted(factsNeeded({ needsFacts: ['deprecated'], minReleaseAgeHours: 2 }, false)),
    ['deprecated', 'publishTime'],
    'added to what the settings imply',
  );
});

t.test('an opa bundle is taken to need every fact unless it declares its needs', async (t) => {
  t.same(sorted(factsNeeded({}, true)), ['deprecated', 'publishTime', 'retracted']);
  t.same(sorted(factsNeeded({ needsFacts: [] }, true)), []);
  t.same(sorted(factsNeeded({ needsFacts: ['retracted'] }, true)), ['retracted']);
});

t.test('needsFacts must name known facts', async (t) => {
  for (const bad of ['publishTime', ['publishTime', 'age'], [1], {}]) {
    t.throws(() => compileData({ needsFacts: bad }), { code: 'POLICY_DATA_INVALID' });
  }
  t.doesNotThrow(() => compileData({ needsFacts: ['publishTime', 'retracted', 'deprecated'] }));
});

t.test('the gate answers for the policy it has loaded', async (t) => {
  const policies = path.join(repoRoot, 'policies');
  const dataFile = path.join(testdir(t), 'data.json');
  await writeFile(dataFile, JSON.stringify({ minReleaseAgeHours: 24 }));
  const folder = await PolicyEngine.load({ path: policies, dataFile });
  t.teardown(() => folder.close());
  t.same(sorted(new RegoGate(folder, { mode: 'enforce' }).factsNeeded()), ['publishTime']);

  const wasm = await readFile(path.join(policies, 'build', 'policy.wasm'));
  const file = path.join(testdir(t), 'bundle.tar.gz');
  await writeFile(
    file,
    await bundle({ '/policy.wasm': wasm, '/data.json': JSON.stringify({ settings: {} }) }),
  );
  const bundled = await PolicyEngine.load({ path: file });
  t.teardown(() => bundled.close());
  t.same(sorted(new RegoGate(bundled, { mode: 'enforce' }).factsNeeded()), [
    'deprecated',
    'publishTime',
    'retracted',
  ]);
});
