import { ModgateError } from '../errors.js';

/**
 * Work that may outlive the request that started it (shared fetches, facts
 * prefetches, spool fsyncs). Each task gets a signal that close() aborts, and
 * close() waits for every task to settle, so that nothing writes after the
 * gateway has closed.
 */
export class TaskSet {
  private readonly running = new Set<Promise<unknown>>();
  private readonly stop = new AbortController();

  get size(): number {
    return this.running.size;
  }

  get closed(): boolean {
    return this.stop.signal.aborted;
  }

  /** The signal every task listens to; aborted by close(). */
  get signal(): AbortSignal {
    return this.stop.signal;
  }

  run<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(new ModgateError('SHUTTING_DOWN', 'modgate is shutting down'));
    const p = work(this.stop.signal);
    this.track(p);
    return p;
  }

  /** Tracks a promise that was started elsewhere (e.g. an fsync) until it settles. */
  track(p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(settled);
    void settled.then(() => this.running.delete(settled));
  }

  /** Resolves once the tasks running now, and those they start, have settled (nothing is aborted). */
  async idle(): Promise<void> {
    for (let round = 0; round < 100 && this.running.size > 0; round++)
      await Promise.all([...this.running]);
  }

  async close(): Promise<void> {
    this.stop.abort(new ModgateError('SHUTTING_DOWN', 'modgate is shutting down'));
    // Tasks may start follow-up tasks while settling: drain until none is left.
    for (let round = 0; round < 100 && this.running.size > 0; round++)
      await Promise.all([...this.running]);
  }
}

/** Rejects with the signal's reason once it aborts; never settles otherwise. */
export function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) return reject(abortReason(signal));
    signal.addEventListener('abort', () => reject(abortReason(signal)), { once: true });
  });
}

export function abortReason(signal: AbortSignal): ModgateError {
  const r: unknown = signal.reason;
  if (r instanceof ModgateError) return r;
  if (r instanceof Error && r.name === 'TimeoutError')
    return new ModgateError('REQUEST_TIMEOUT', 'the request ran out of time');
  return new ModgateError('CLIENT_GONE', 'the request was cancelled');
}

/** Waits for `p` but gives up (rejecting) when `signal` aborts; `p` itself goes on. */
export async function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) throw abortReason(signal);
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_r, reject) => {
    onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([p, stop]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}
