import path from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import YAML from 'yaml';
import { PolicyEngine } from '../../src/policy/engine.js';
import { PolicyPool } from '../../src/policy/pool.js';
import { RegoGate } from '../../src/policy/gate.js';
import type { DecisionRequest } from '../../src/contracts.js';
import { root } from '../lib.js';
import type { Result } from '../report.js';

const WAIVERS = 50_000;
const DECISIONS = 5_000;
const quantile = (xs: number[], q: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;

/** Data with a freeze on example.com and 50,000 waivers (1,000 of them glob patterns). */
function data(): unknown {
  const expires = '2999-01-01T00:00:00Z';
  return {
    banned: [{ module: 'example.com', versions: '*', reason: 'freeze' }],
    waivers: Array.from({ length: WAIVERS }, (_, i) =>
      i % 50 === 0
        ? { module: `example.com/g${i}/*`, versions: '*', reason: `GLOB-${i}`, expires }
        : { module: `example.com/w${i}`, versions: 'v1.0.0', reason: `INC-${i}`, expires },
    ),
  };
}

const identity = { id: 'bench', method: 'anonymous' as const, groups: [] };
const req = (i: number): DecisionRequest => ({
  kind: 'zip',
  module: i % 3 === 0 ? `example.com/w${i % WAIVERS}` : `example.com/g${(i % 1000) * 50}/sub`,
  version: i % 5 === 0 ? 'v1.0.1' : 'v1.0.0',
  identity,
  facts: { zipSize: 1000, checksum: { verified: true, method: 'sumdb' } },
});

/** Whether req(i) is waived: every version under a glob waiver, v1.0.0 of a listed module. */
function waived(i: number): boolean {
  if (i % 3 !== 0) return true;
  return i % 5 !== 0 && (i % WAIVERS) % 50 !== 0;
}

/**
 * The event loop with 50,000 waivers loaded: the worst single block of the
 * main thread while the policy workers load the data and while decisions are
 * made (cache off, so every one is evaluated), the decision latency, and for
 * comparison the same work in this thread (what the event loop paid before
 * the workers).
 */
export async function policyWaivers(): Promise<Result[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-bench-waivers-'));
  try {
    const dataFile = path.join(dir, 'data.yaml');
    await writeFile(dataFile, YAML.stringify(data()));
    const src = { path: path.join(root, 'policies'), dataFile };

    // The main thread's share of a load: spawning the workers, then waiting.
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const s0 = performance.now();
    const loading = PolicyPool.load(src, { workers: 2 });
    const loadSync = performance.now() - s0;
    const pool = await loading;
    delay.disable();
    const loadDelay = { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
    const gate = new RegoGate(pool, { mode: 'enforce', cacheEntries: 0 });
    for (let i = 0; i < 500; i++) await gate.decide(req(i));

    delay.reset();
    delay.enable();
    const latency: number[] = [];
    let slowestSync = 0;
    let wrong = 0;
    for (let i = 0; i < DECISIONS; i += 10) {
      const batch = Array.from({ length: 10 }, async (_, k) => {
        const r = req(i + k);
        const t0 = performance.now();
        const pending = gate.decide(r);
        slowestSync = Math.max(slowestSync, performance.now() - t0);
        const d = await pending;
        latency.push(performance.now() - t0);
        if (d.allow !== waived(i + k)) wrong++;
      });
      await Promise.all(batch);
    }
    delay.disable();
    const decideDelay = { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
    await pool.close();

    // The same in this thread: the load and the slowest synchronous evaluation.
    const t0 = performance.now();
    const engine = await PolicyEngine.load(src);
    const inThreadLoad = performance.now() - t0;
    const local = new RegoGate(engine, { mode: 'enforce', cacheEntries: 0, budgetMs: 1e9 });
    let inThreadEval = 0;
    for (let i = 0; i < 2000; i++) {
      const s = performance.now();
      local.evaluate(req(i));
      inThreadEval = Math.max(inThreadEval, performance.now() - s);
    }
    engine.close();

    return [
      {
        id: 'policy.waivers.block',
        label: `worst synchronous block per decision, ${WAIVERS.toLocaleString('en')} waivers`,
        value: slowestSync,
        unit: 'ms',
        target: 20,
        better: 'lower',
        note: `in-thread evaluation would block up to ${inThreadEval.toFixed(1)} ms`,
      },
      {
        id: 'policy.waivers.loopDelay',
        label: 'event-loop delay during decisions: p99',
        value: decideDelay.p99,
        unit: 'ms',
        target: 20,
        better: 'lower',
        note: `max ${decideDelay.max.toFixed(1)} ms (includes the OS descheduling the thread)`,
      },
      {
        id: 'policy.waivers.load',
        label: `event-loop delay while workers load ${WAIVERS.toLocaleString('en')} waivers: p99`,
        value: loadDelay.p99,
        unit: 'ms',
        target: 20,
        better: 'lower',
        note: `max ${loadDelay.max.toFixed(1)} ms, spawn ${loadSync.toFixed(1)} ms; in-thread load blocks ${inThreadLoad.toFixed(0)} ms`,
      },
      {
        id: 'policy.waivers.latency',
        label: `policy decision in a worker, ${WAIVERS.toLocaleString('en')} waivers: median`,
        value: quantile(latency, 0.5) * 1000,
        unit: 'µs',
        note: `${wrong} of ${latency.length} decisions wrong`,
      },
      {
        id: 'policy.waivers.p99',
        label: 'policy decision in a worker: p99, against the 50 ms budget',
        value: quantile(latency, 0.99),
        unit: 'ms',
        target: 50,
        better: 'lower',
      },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
