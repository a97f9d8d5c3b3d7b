import path from 'node:path';
import { PolicyEngine } from '../../src/policy/engine.js';
import { RegoGate } from '../../src/policy/gate.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import YAML from 'yaml';
import { root } from '../lib.js';
import type { Result } from '../report.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median µs per decision with 1,000 allow and deny entries in data: evaluated, and from the decision cache. */
export async function policyCost(): Promise<Result[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-bench-policy-'));
  try {
    const data = {
      sources: {
        allow: Array.from({ length: 1000 }, (_, i) => `example.com/team${i}`),
        deny: Array.from({ length: 1000 }, (_, i) => `evil${i}.example`),
      },
      banned: Array.from({ length: 1000 }, (_, i) => ({
        module: `example.com/team${i}`,
        versions: `>= v1.${i}.0 < v1.${i}.5`,
        reason: 'bench',
      })),
      minReleaseAgeHours: 24,
    };
    await writeFile(path.join(dir, 'data.yaml'), YAML.stringify(data));
    const engine = await PolicyEngine.load({
      path: path.join(root, 'policies'),
      dataFile: path.join(dir, 'data.yaml'),
    });
    const gate = new RegoGate(engine, { mode: 'enforce' });
    const identity = { id: 'bench', method: 'anonymous' as const, groups: [] };
    const req = (i: number) => ({
      kind: 'zip' as const,
      module: `example.com/team${i % 1000}/sub`,
      version: `v1.${i % 1000}.${i % 7}`,
      identity,
      facts: { publishTime: '2020-01-01T00:00:00Z', zipSize: 1000 },
    });
    for (let i = 0; i < 500; i++)
      engine.evaluate(
        (await import('../../src/policy/input.js')).buildInput(req(i), engine.data, new Date()),
      );
    const { buildInput } = await import('../../src/policy/input.js');
    const cold: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t0 = performance.now();
      engine.evaluate(buildInput(req(i), engine.data, new Date()));
      cold.push((performance.now() - t0) * 1000);
    }
    for (let i = 0; i < 1000; i++) gate.evaluate(req(i));
    const hot: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const t0 = performance.now();
      gate.evaluate(req(i % 1000));
      hot.push((performance.now() - t0) * 1000);
    }
    engine.close();
    return [
      {
        id: 'policy.cold',
        label: 'policy decision (input built + wasm eval), 1,000 entries: median',
        value: median(cold),
        unit: 'µs',
        target: 20,
        better: 'lower',
      },
      {
        id: 'policy.cached',
        label: 'policy decision from the decision cache: median',
        value: median(hot),
        unit: 'µs',
        target: 20,
        better: 'lower',
        note: `cache hits ${gate.hits}`,
      },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
