import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DecisionRequest } from '../contracts.js';
import { ModgateError, isErrorCode } from '../errors.js';
import type { PolicyData } from './data.js';
import type { PolicySource, ReloadEvent } from './engine.js';
import { DEFAULT_BUDGET_MS, overBudget, policyError, type Evaluation } from './evaluation.js';
import { isBundle, SourceWatcher } from './watch.js';
import type { EvalMessage, WorkerInit, WorkerReply } from './worker.js';

export interface PoolOptions {
  /** Worker threads evaluating decisions (default 2: one can be replaced while the other serves). */
  workers?: number;
  /** A decision's time budget in ms (default 50); a worker that overruns it is terminated. */
  budgetMs?: number;
  onReload?: (e: ReloadEvent) => void;
  /** A worker was terminated (over budget) or died; a replacement is on its way. */
  onWorkerLost?: (reason: string) => void;
  /** A replacement worker has loaded and serves. */
  onWorkerReplaced?: () => void;
}

/** Decisions waiting for a free worker; more are refused (POLICY_ERROR) rather than queued without end. */
export const QUEUE_LIMIT = 10_000;
/** The longest a decision waits for a free worker (e.g. while an overrun worker is replaced). */
export const QUEUE_WAIT_MS = 5_000;
/** A worker that has not loaded the policy by then counts as a failed load. */
const START_MS = 120_000;
/** Pause before another try at replacing a worker whose replacement failed to load. */
const RESPAWN_MS = 1_000;

type Ready = Extract<WorkerReply, { type: 'ready' }>;

interface Job {
  id: number;
  req: DecisionRequest;
  now: number;
  resolve: (e: Evaluation) => void;
  wait?: NodeJS.Timeout;
}

/**
 * What a worker tells the pool through shared memory, readable while its
 * answer is still in the queue: the ids of the decision it last started and
 * last finished (Int32 0 and 1), and when it started it (Float64 at byte 8).
 */
interface Progress {
  ids: Int32Array;
  startedAt: Float64Array;
}

interface Slot {
  worker: Worker;
  progress: Progress;
  info: Ready;
  gen: Generation;
  job?: Job;
  timer?: NodeJS.Timeout;
  dispatchedAt?: number;
}

interface Generation {
  info: Ready;
  slots: Set<Slot>;
  retired: boolean;
}

/**
 * Evaluates policy decisions in worker threads, so that neither a slow policy
 * nor loading a large data file blocks the event loop. Each worker holds its
 * own wasm instance and compiled data and gets one decision at a time; a
 * decision not answered within the budget is POLICY_ERROR (a denial) and its
 * worker is terminated and replaced. A reload starts a new generation of
 * workers and swaps it in only once all of them loaded; a bad file leaves the
 * running generation in place.
 */
export class PolicyPool {
  private gen!: Generation;
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private reloads: Promise<unknown> = Promise.resolve();
  private readonly watcher: SourceWatcher;
  readonly budgetMs: number;
  private readonly size: number;

  private constructor(
    private readonly src: PolicySource,
    private readonly opts: PoolOptions,
  ) {
    this.budgetMs = opts.budgetMs ?? DEFAULT_BUDGET_MS;
    this.size = Math.max(1, opts.workers ?? 2);
    this.watcher = new SourceWatcher(src, () => void this.reload());
  }

  /** Starts the workers; rejects with the load's own error (POLICY_LOAD_FAILED, POLICY_DATA_INVALID). */
  static async load(src: PolicySource, opts: PoolOptions = {}): Promise<PolicyPool> {
    const pool = new PolicyPool(src, opts);
    pool.gen = await pool.startGeneration();
    return pool;
  }

  get policyRevision(): string {
    return this.gen.info.policyRevision;
  }

  get dataRevision(): string {
    return this.gen.info.dataRevision;
  }

  get sourceRevision(): string | undefined {
    return this.gen.info.sourceRevision;
  }

  /** An opa bundle (an operator's own rules) rather than a policies folder. */
  get bundled(): boolean {
    return isBundle(this.src.path);
  }

  get settings(): PolicyData {
    return this.gen.info.settings;
  }

  /** Workers of the running generation that are loaded and alive. */
  get workers(): number {
    return this.gen.slots.size;
  }

  run(req: DecisionRequest, now: Date): Promise<Evaluation> {
    const revisions = { policyRevision: this.policyRevision, dataRevision: this.dataRevision };
    const fail = (m: string): Promise<Evaluation> =>
      Promise.resolve({ decision: policyError(m), boundary: 0, ...revisions });
    if (this.closed) return fail('the policy engine is closed');
    if (this.queue.length >= QUEUE_LIMIT)
      return fail(`${QUEUE_LIMIT} policy decisions are already waiting: denying`);
    return new Promise((resolve) => {
      const job: Job = { id: this.nextId++, req, now: now.getTime(), resolve };
      job.wait = setTimeout(() => {
        this.queue.splice(this.queue.indexOf(job), 1);
        resolve({
          decision: policyError(`no policy worker was free within ${QUEUE_WAIT_MS} ms: denying`),
          boundary: 0,
          ...revisions,
        });
      }, QUEUE_WAIT_MS);
      this.queue.push(job);
      this.pump();
    });
  }

  private pump(): void {
    for (const slot of this.gen.slots) {
      if (this.queue.length === 0) return;
      if (!slot.job) this.dispatch(slot, this.queue.shift()!);
    }
  }

  private dispatch(slot: Slot, job: Job): void {
    clearTimeout(job.wait);
    slot.job = job;
    slot.dispatchedAt = performance.now();
    slot.timer = setTimeout(() => this.check(slot, job), this.budgetMs);
    slot.worker.postMessage({ id: job.id, req: job.req, now: job.now } satisfies EvalMessage);
  }

  /**
   * The budget counts from the moment the worker starts the decision, not from
   * the dispatch: a thread the OS has not scheduled yet (a loaded host) or a
   * main thread that stalled while the answer sat in the queue is no fault of
   * the policy. A decision that has not even started within QUEUE_WAIT_MS fails
   * closed all the same.
   */
  private check(slot: Slot, job: Job): void {
    if (slot.job !== job) return;
    const { ids, startedAt } = slot.progress;
    if (Atomics.load(ids, 1) === job.id) return;
    const again = (ms: number): void => {
      slot.timer = setTimeout(() => this.check(slot, job), Math.max(1, ms));
    };
    if (Atomics.load(ids, 0) !== job.id) {
      if (performance.now() - slot.dispatchedAt! < QUEUE_WAIT_MS) return again(this.budgetMs);
      return this.lose(slot, 'over budget');
    }
    const ran = performance.timeOrigin + performance.now() - startedAt[0]!;
    if (ran < this.budgetMs) return again(this.budgetMs - ran);
    this.lose(slot, 'over budget');
  }

  private onResult(slot: Slot, m: Extract<WorkerReply, { type: 'result' }>): void {
    const job = slot.job;
    if (!job || job.id !== m.id) return;
    clearTimeout(slot.timer);
    slot.job = undefined;
    const { type: _t, id: _i, ...evaluation } = m;
    job.resolve(evaluation);
    if (slot.gen.retired) void slot.worker.terminate();
    else this.pump();
  }

  /** Takes a worker out of service (overrun or death); its decision fails closed; a new one replaces it. */
  private lose(slot: Slot, why: 'over budget' | 'exited'): void {
    if (!slot.gen.slots.delete(slot)) return;
    clearTimeout(slot.timer);
    const job = slot.job;
    slot.job = undefined;
    if (job) {
      const ms = performance.now() - (slot.dispatchedAt ?? performance.now());
      job.resolve({
        decision:
          why === 'over budget'
            ? overBudget(ms, this.budgetMs)
            : policyError('the policy worker exited while evaluating: denying'),
        boundary: 0,
        policyRevision: slot.info.policyRevision,
        dataRevision: slot.info.dataRevision,
      });
    }
    void slot.worker.terminate();
    if (this.closed || slot.gen.retired) return;
    this.opts.onWorkerLost?.(why);
    this.replace(slot.gen);
  }

  private replace(gen: Generation): void {
    this.spawn(gen).then(
      (slot) => {
        if (this.closed || gen.retired) return void slot.worker.terminate();
        gen.slots.add(slot);
        this.opts.onWorkerReplaced?.();
        this.pump();
      },
      () => {
        if (this.closed || gen.retired) return;
        setTimeout(() => this.replace(gen), RESPAWN_MS).unref();
      },
    );
  }

  /** Starts one worker for gen; resolves once it has loaded the policy. */
  private spawn(gen: Generation | undefined): Promise<Slot> {
    const { url, execArgv } = workerEntry();
    const progress = new SharedArrayBuffer(16);
    const worker = new Worker(url, {
      workerData: { src: this.src, budgetMs: this.budgetMs, progress } satisfies WorkerInit,
      ...(execArgv ? { execArgv } : {}),
    });
    worker.unref();
    return new Promise((resolve, reject) => {
      let slot: Slot | undefined;
      const start = setTimeout(() => {
        void worker.terminate();
        reject(new ModgateError('POLICY_LOAD_FAILED', 'the policy worker did not start in time'));
      }, START_MS);
      worker.on('message', (m: WorkerReply) => {
        if (m.type === 'result' && slot) this.onResult(slot, m);
        else if (m.type === 'ready') {
          clearTimeout(start);
          slot = {
            worker,
            progress: {
              ids: new Int32Array(progress, 0, 2),
              startedAt: new Float64Array(progress, 8, 1),
            },
            info: m,
            gen: gen ?? { info: m, slots: new Set(), retired: false },
          };
          resolve(slot);
        } else if (m.type === 'failed') {
          clearTimeout(start);
          void worker.terminate();
          reject(new ModgateError(isErrorCode(m.code) ? m.code : 'POLICY_LOAD_FAILED', m.message));
        }
      });
      worker.on('error', () => undefined);
      worker.on('exit', () => {
        clearTimeout(start);
        if (slot) this.lose(slot, 'exited');
        else reject(new ModgateError('POLICY_LOAD_FAILED', 'the policy worker exited'));
      });
    });
  }

  private async startGeneration(): Promise<Generation> {
    const started = await Promise.allSettled(
      Array.from({ length: this.size }, () => this.spawn(undefined)),
    );
    const slots = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      throw (failed as PromiseRejectedResult).reason;
    }
    const gen: Generation = { info: slots[0]!.info, slots: new Set(), retired: false };
    for (const s of slots) {
      s.gen = gen;
      gen.slots.add(s);
    }
    return gen;
  }

  /** Loads policy and data into new workers and swaps them in; keeps the running ones when the new files are bad. */
  reload(): Promise<boolean> {
    const run = this.reloads.then(() => this.reloadNow());
    this.reloads = run;
    return run;
  }

  private async reloadNow(): Promise<boolean> {
    if (this.closed) return false;
    this.watcher.mark();
    try {
      const next = await this.startGeneration();
      if (this.closed) {
        await Promise.all([...next.slots].map((s) => s.worker.terminate()));
        return false;
      }
      const old = this.gen;
      this.gen = next;
      old.retired = true;
      for (const s of old.slots) if (!s.job) void s.worker.terminate();
      this.pump();
      this.opts.onReload?.({ ok: true, ...this.revisions() });
      return true;
    } catch (err) {
      this.opts.onReload?.({ ok: false, error: (err as Error).message, ...this.revisions() });
      return false;
    }
  }

  private revisions(): { policyRevision: string; dataRevision: string } {
    return { policyRevision: this.policyRevision, dataRevision: this.dataRevision };
  }

  watch(debounceMs = 200, pollMs = 2000): this {
    this.watcher.start(debounceMs, pollMs);
    return this;
  }

  /** Stops the watcher and every worker; decisions still waiting fail closed. */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher.stop();
    for (const job of this.queue.splice(0)) {
      clearTimeout(job.wait);
      job.resolve({
        decision: policyError('the policy engine is closed'),
        boundary: 0,
        ...this.revisions(),
      });
    }
    const slots = [...this.gen.slots];
    this.gen.slots.clear();
    for (const s of slots) {
      clearTimeout(s.timer);
      s.job?.resolve({
        decision: policyError('the policy engine is closed'),
        boundary: 0,
        ...this.revisions(),
      });
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

let entry: { url: URL; execArgv?: string[] } | undefined;

/**
 * The worker's module. Run from the TypeScript sources (tests, development),
 * a worker would compile its modules again through the TypeScript loader it
 * inherits, which takes seconds per worker; so it runs the compiled twin in
 * dist/ when that was built after every source file changed, and the sources
 * otherwise (slow but never stale). The compiled twin runs without the
 * loader's flags, which would load the TypeScript compiler all the same.
 */
function workerEntry(): { url: URL; execArgv?: string[] } {
  if (entry) return entry;
  entry = { url: new URL('./worker.js', import.meta.url) };
  if (!import.meta.url.endsWith('.ts')) return entry;
  const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const built = path.join(src, '..', 'dist', 'policy', 'worker.js');
  try {
    const builtAt = statSync(built).mtimeMs;
    if (newestMtime(src) < builtAt) entry = { url: pathToFileURL(built), execArgv: [] };
  } catch {
    // Not built: the sources it is.
  }
  return entry;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}
