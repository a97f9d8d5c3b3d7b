import path from 'node:path';
import { VulnIndex } from '../../src/vuln/index.js';
import { checkSnapshot } from '../../src/vuln/layout.js';
import { readZip } from '../../src/vuln/source.js';
import { root } from '../lib.js';
import type { Result } from '../report.js';

const LOOKUPS = 200_000;

/**
 * The vulnerability index over the 2026-11-05 snapshot (4,789 entries):
 * reading and checking the copy, building the index, and the median of one
 * lookup, over a mix of modules with entries (stdlib, the most listed, and
 * single-entry ones) and modules with none, at versions around boundaries.
 */
export async function vulnIndex(): Promise<Result[]> {
  const t0 = performance.now();
  const files = await readZip(path.join(root, 'test/vectors/vulndb/vulndb-v1-20261105.zip'));
  const snap = checkSnapshot(files);
  const t1 = performance.now();
  const index = new VulnIndex(snap.entries, snap.modified);
  const t2 = performance.now();
  const mods = [...index.moduleNames()];
  const queries: Array<[string, string]> = [];
  for (let i = 0; i < 1000; i++) {
    const m =
      i % 10 === 0
        ? 'stdlib'
        : i % 10 === 1
          ? `example.com/none${i}`
          : mods[(i * 7919) % mods.length]!;
    queries.push([m, `v${i % 3}.${i % 17}.${i % 5}`]);
  }
  // Batches of 1,000 lookups, timed per batch: the median per lookup.
  const perLookup: number[] = [];
  let sink = 0;
  for (let b = 0; b < LOOKUPS / 1000; b++) {
    const s = performance.now();
    for (const [m, v] of queries) sink += index.lookup(m, v).length;
    perLookup.push(((performance.now() - s) * 1000) / queries.length);
  }
  perLookup.sort((a, b) => a - b);
  if (sink < 0) throw new Error('unreachable');
  return [
    {
      id: 'vuln.load',
      label: 'vulndb: read and check the snapshot zip (4,789 entries)',
      value: Math.round(t1 - t0),
      unit: 'ms',
    },
    { id: 'vuln.build', label: 'vulndb: index build time', value: Math.round(t2 - t1), unit: 'ms' },
    {
      id: 'vuln.lookup',
      label: 'vulndb: median lookup (module, version)',
      value: Number(perLookup[Math.floor(perLookup.length / 2)]!.toFixed(3)),
      unit: 'us',
      target: 5,
      better: 'lower',
    },
  ];
}
