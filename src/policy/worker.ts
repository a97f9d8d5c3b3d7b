/**
 * A policy worker thread: loads the policy and its data here, off the main
 * thread (parsing and indexing tens of thousands of waivers takes longer than
 * one event-loop turn may), then evaluates one request per message. The pool
 * (pool.ts) terminates a worker that overruns its budget, so a slow policy
 * stops here and never on the event loop that serves requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DecisionRequest } from '../contracts.js';
import { ModgateError } from '../errors.js';
import { PolicyEngine, type PolicySource } from './engine.js';
import { evaluateRequest, settingsOf } from './evaluation.js';

export interface WorkerInit {
  src: PolicySource;
  budgetMs: number;
  /** Progress shared with the pool (see Progress in pool.ts): started and finished ids, start time. */
  progress: SharedArrayBuffer;
}

export interface EvalMessage {
  id: number;
  req: DecisionRequest;
  now: number;
}

export type WorkerReply =
  | {
      type: 'ready';
      policyRevision: string;
      dataRevision: string;
      sourceRevision: string | undefined;
      settings: ReturnType<typeof settingsOf>;
    }
  | { type: 'failed'; code: string; message: string }
  | ({ type: 'result'; id: number } & ReturnType<typeof evaluateRequest>);

const port = parentPort!;
const init = workerData as WorkerInit;

const ids = new Int32Array(init.progress, 0, 2);
const startedAt = new Float64Array(init.progress, 8, 1);

try {
  const engine = await PolicyEngine.load(init.src);
  port.on('message', (m: EvalMessage) => {
    startedAt[0] = performance.timeOrigin + performance.now();
    Atomics.store(ids, 0, m.id);
    const r = evaluateRequest(engine, m.req, new Date(m.now), init.budgetMs);
    Atomics.store(ids, 1, m.id);
    port.postMessage({ type: 'result', id: m.id, ...r } as WorkerReply);
  });
  port.postMessage({
    type: 'ready',
    policyRevision: engine.policyRevision,
    dataRevision: engine.dataRevision,
    sourceRevision: engine.sourceRevision,
    settings: settingsOf(engine.data.raw),
  } as WorkerReply);
} catch (err) {
  port.postMessage({
    type: 'failed',
    code: err instanceof ModgateError ? err.code : 'POLICY_LOAD_FAILED',
    message: (err as Error).message,
  } as WorkerReply);
}
