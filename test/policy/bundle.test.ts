import t from 'tap';
import { bundle } from '../helpers/bundle.js';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PolicyEngine } from '../../src/policy/engine.js';
import { buildInput } from '../../src/policy/input.js';
import { repoRoot } from '../helpers/testdata.js';
import { testdir } from '../helpers/testdir.js';

t.test(
  'an operator bundle (opa build output: /policy.wasm and /data.json) loads with its data',
  async (t) => {
    const wasm = await readFile(path.join(repoRoot, 'policies', 'build', 'policy.wasm'));
    const file = path.join(testdir(t), 'bundle.tar.gz');
    await writeFile(
      file,
      await bundle({
        '/policy.wasm': wasm,
        '/data.json': JSON.stringify({
          settings: { banned: [{ module: 'example.com/x', versions: '*', reason: 'bundle ban' }] },
        }),
      }),
    );
    const engine = await PolicyEngine.load({ path: file });
    const identity = { id: 'a', method: 'anonymous' as const, groups: [] };
    const d = engine.evaluate(
      buildInput(
        { kind: 'zip', module: 'example.com/x', version: 'v1.0.0', identity, facts: {} },
        engine.data,
        new Date(),
      ),
    );
    t.match(d, { allow: false, deny: [{ code: 'VERSION_BANNED' }] });
    engine.close();
    const broken = path.join(testdir(t), 'broken.tar.gz');
    await writeFile(broken, await bundle({ '/data.json': '{}' }));
    await t.rejects(PolicyEngine.load({ path: broken }), { code: 'POLICY_LOAD_FAILED' });
    await writeFile(broken, 'not gzip');
    await t.rejects(PolicyEngine.load({ path: broken }), { code: 'POLICY_LOAD_FAILED' });
  },
);
