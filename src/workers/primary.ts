/**
 * The primary process of `modgate serve` with server.workers >= 2: it forks N
 * workers with node:cluster, all listening on the one address (the primary
 * holds the socket and hands connections round-robin), arbitrates the local
 * shared state between them (src/state/coordinator.ts), restarts a worker that
 * dies (bounded backoff) and drains them all on SIGTERM/SIGINT. It serves no
 * request itself.
 *
 * Error codes:
 * | code           | meaning                                                           |
 * |----------------|-------------------------------------------------------------------|
 * | WORKERS_FAILED | a worker failed to start at first, or a slot keeps failing to start |
 */
import { lockDataDir } from '../storage/data-lock.js';
import cluster, { type Worker } from 'node:cluster';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { ModgateConfig } from '../config/types.js';
import { ModgateError } from '../errors.js';
import { isErrorCode, type ErrorCode } from '../errors/codes.js';
import { isStateRequest, LocalCoordinator } from '../state/coordinator.js';
import { LocalState } from '../state/local.js';
import { replicaIdOf } from '../state/open.js';
import { workerConfig, workerReplicaId } from './config.js';
import { preparePrimary } from './prepare.js';
import { isFailed, isHello, isReady, type StartMessage } from './protocol.js';

/** A slot that fails this many starts in a row is given up on (and the primary with it). */
export const MAX_START_FAILURES = 5;
const BACKOFF_FIRST_MS = 200;
const BACKOFF_MAX_MS = 10_000;
/** A worker that served this long has its crash count forgiven. */
const STABLE_MS = 30_000;

interface Slot {
  n: number;
  replica: string;
  worker?: Worker;
  ready: boolean;
  readyAt: number;
  startFailures: number;
  crashes: number;
  lastFailure?: string;
  lastCode?: string;
  lastMessage?: string;
  timer?: NodeJS.Timeout;
}

function entryFile(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `entry${path.extname(here)}`);
}

export class Primary {
  private readonly slots: Slot[];
  private readonly coordinator: LocalCoordinator | undefined;
  private stopping = false;
  private everReady = false;
  private announced = false;
  private done!: (code: number) => void;
  readonly finished = new Promise<number>((r) => (this.done = r));

  constructor(
    private readonly config: ModgateConfig,
    private readonly count: number,
    private readonly logger: Logger,
  ) {
    this.slots = Array.from({ length: count }, (_, i) => ({
      n: i + 1,
      replica: workerReplicaId(config, i + 1),
      ready: false,
      readyAt: 0,
      startFailures: 0,
      crashes: 0,
    }));
    this.coordinator =
      config.state.kind === 'local'
        ? new LocalCoordinator(
            new LocalState({ dir: config.dataDir, replicaId: `${replicaIdOf(config)}-primary` }),
          )
        : undefined;
  }

  start(): void {
    cluster.setupPrimary({ exec: entryFile(), args: [], serialization: 'advanced' });
    for (const s of this.slots) this.fork(s);
  }

  private fork(s: Slot): void {
    s.timer = undefined;
    s.ready = false;
    const w = cluster.fork();
    s.worker = w;
    const start: StartMessage = {
      t: 'start',
      slot: s.n,
      config: workerConfig(this.config, s.n, this.count),
      announce: s.n === 1 && !this.announced,
    };
    w.on('message', (m: unknown) => (isHello(m) ? w.send(start) : this.onMessage(s, w, m)));
    w.once('exit', (code, signal) => this.onExit(s, w, code, signal));
  }

  private onMessage(s: Slot, w: Worker, m: unknown): void {
    if (isStateRequest(m)) {
      if (!this.coordinator) return;
      void this.coordinator.handle(s.replica, m).then((reply) => {
        if (w.isConnected()) w.send(reply);
      });
    } else if (isReady(m)) {
      s.ready = true;
      s.readyAt = Date.now();
      s.startFailures = 0;
      if (s.n === 1) this.announced = true;
      this.logger.info({ slot: s.n, pid: w.process.pid, replica: s.replica }, 'worker ready');
      if (!this.everReady && this.slots.every((x) => x.ready)) {
        this.everReady = true;
        this.logger.info({ workers: this.count }, `${this.count} worker processes serving`);
      }
    } else if (isFailed(m)) {
      s.lastFailure = `${m.code}: ${m.message}`;
      s.lastCode = m.code;
      s.lastMessage = m.message;
    }
  }

  private onExit(s: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (s.worker !== w) return;
    s.worker = undefined;
    const freed = this.coordinator?.gone(s.replica) ?? 0;
    if (this.stopping) return this.maybeFinished();
    const wasReady = s.ready;
    s.ready = false;
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    if (!wasReady) {
      s.startFailures++;
      const why = s.lastFailure ?? how;
      if (!this.everReady) {
        // At first start every worker fails alike (an address in use): its own error says it best.
        const own = s.lastCode && isErrorCode(s.lastCode) ? s.lastCode : 'WORKERS_FAILED';
        return void this.fail(own, s.lastMessage ?? `worker ${s.n} failed to start: ${how}`);
      }
      if (s.startFailures >= MAX_START_FAILURES)
        return void this.fail(
          'WORKERS_FAILED',
          `worker ${s.n} failed to start ${s.startFailures} times in a row; last: ${why}`,
        );
    } else if (Date.now() - s.readyAt > STABLE_MS) s.crashes = 0;
    s.crashes++;
    const wait = Math.min(BACKOFF_FIRST_MS * 2 ** (s.crashes - 1), BACKOFF_MAX_MS);
    this.logger.error(
      { slot: s.n, pid: w.process.pid, how, leasesFreed: freed, restartInMs: wait },
      `worker ${s.n} died (${how}); restarting it`,
    );
    s.timer = setTimeout(() => this.fork(s), wait);
  }

  private async fail(code: ErrorCode, message: string): Promise<void> {
    // Reported once, by the serve command (error: CODE: ...).
    this.failure = new ModgateError(code, message);
    await this.stop('start-up failure');
  }

  /** Set when the primary gives up; the serve command reports it. */
  failure: ModgateError | undefined;

  /** Drains every worker (SIGTERM: each finishes its in-flight responses), bounded. */
  async stop(why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.info({ why }, 'shutting down: draining the workers');
    for (const s of this.slots) {
      clearTimeout(s.timer);
      s.worker?.process.kill('SIGTERM');
    }
    const grace = this.config.server.requestDeadlineMs + 10_000;
    setTimeout(() => {
      for (const s of this.slots) s.worker?.process.kill('SIGKILL');
    }, grace).unref();
    this.maybeFinished();
  }

  private maybeFinished(): void {
    if (this.slots.some((s) => s.worker)) return;
    this.done(this.failure ? 1 : 0);
  }

  /** The live workers' process ids by slot (tests, logs). */
  pids(): Array<number | undefined> {
    return this.slots.map((s) => s.worker?.process.pid);
  }
}

/**
 * Runs the primary until it is told to stop or gives up: resolves with the
 * exit code. The config is checked (and keys created) before any fork.
 */
export async function runPrimary(
  config: ModgateConfig,
  count: number,
  logger: Logger,
): Promise<number> {
  await preparePrimary(config, logger);
  const lock = await lockDataDir(config.dataDir, 'serve');
  try {
    const p = new Primary(config, count, logger);
    process.once('SIGTERM', () => void p.stop('SIGTERM'));
    process.once('SIGINT', () => void p.stop('SIGINT'));
    p.start();
    const code = await p.finished;
    if (p.failure) throw p.failure;
    return code;
  } finally {
    await lock.release();
  }
}
