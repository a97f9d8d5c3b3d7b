/**
 * Single-flight: concurrent calls with the same key share one execution.
 *
 * The shared work has its own AbortController and its own deadline, apart
 * from any caller's. A waiter whose signal aborts stops waiting at once, with
 * its signal's reason, without cancelling the work for the others; the work is
 * cancelled only when every waiter has gone, when its deadline passes, or on
 * close(). A flight that is cancelled leaves the map at once, so a later call
 * starts afresh instead of joining a dying one.
 *
 * | code             | meaning                                         |
 * |------------------|-------------------------------------------------|
 * | UPSTREAM_TIMEOUT | the shared work outlived its own deadline        |
 * | SHUTTING_DOWN    | close() cancelled the shared work                |
 */
import { ModgateError } from '../errors.js';

export interface FlightOptions {
  /** This waiter's lifetime (e.g. RequestContext.signal). */
  signal?: AbortSignal;
  /** The shared work's own deadline, set by the caller that starts it. */
  deadlineMs?: number;
}

interface Flight<T> {
  controller: AbortController;
  promise: Promise<T>;
  waiters: number;
}

export class SingleFlight<T> {
  private readonly inflight = new Map<string, Flight<T>>();
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly defaults: { deadlineMs?: number; what?: string } = {}) {}

  /** Flights that callers can still join. */
  get size(): number {
    return this.inflight.size;
  }

  do(key: string, work: (signal: AbortSignal) => Promise<T>, opts: FlightOptions = {}): Promise<T> {
    if (this.closed)
      return Promise.reject(new ModgateError('SHUTTING_DOWN', 'modgate is shutting down'));
    if (opts.signal?.aborted) return Promise.reject(reasonOf(opts.signal));
    const flight = this.inflight.get(key) ?? this.start(key, work, opts);
    return this.wait(key, flight, opts.signal);
  }

  /** Cancels every flight and resolves once all their work has settled. */
  async close(): Promise<void> {
    this.closed = true;
    const reason = new ModgateError('SHUTTING_DOWN', 'modgate is shutting down');
    for (const f of this.inflight.values()) f.controller.abort(reason);
    this.inflight.clear();
    await Promise.allSettled([...this.running]);
  }

  private start(
    key: string,
    work: (signal: AbortSignal) => Promise<T>,
    opts: FlightOptions,
  ): Flight<T> {
    const controller = new AbortController();
    const ms = opts.deadlineMs ?? this.defaults.deadlineMs;
    const timer =
      ms === undefined
        ? undefined
        : setTimeout(() => {
            controller.abort(
              new ModgateError(
                'UPSTREAM_TIMEOUT',
                `${this.defaults.what ?? 'shared upstream work'} for ${key.slice(0, 200)} passed its ${ms} ms deadline`,
                { deadlineMs: ms },
              ),
            );
            this.drop(key, flight);
          }, ms);
    const promise = Promise.resolve()
      .then(() => work(controller.signal))
      .finally(() => {
        clearTimeout(timer);
        this.drop(key, flight);
        this.running.delete(promise);
      });
    // Waiters may all be gone: the settled promise must not count as unhandled.
    promise.catch(() => undefined);
    this.running.add(promise);
    const flight: Flight<T> = { controller, promise, waiters: 0 };
    this.inflight.set(key, flight);
    return flight;
  }

  private drop(key: string, flight: Flight<T>): void {
    if (this.inflight.get(key) === flight) this.inflight.delete(key);
  }

  private wait(key: string, flight: Flight<T>, signal?: AbortSignal): Promise<T> {
    flight.waiters++;
    if (!signal) return flight.promise.finally(() => this.leave(key, flight, false));
    return new Promise<T>((resolve, reject) => {
      let gone = false;
      const onAbort = (): void => {
        gone = true;
        this.leave(key, flight, true);
        reject(reasonOf(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const settle = (): boolean => {
        signal.removeEventListener('abort', onAbort);
        if (gone) return false;
        this.leave(key, flight, false);
        return true;
      };
      flight.promise.then(
        (v) => settle() && resolve(v),
        (err: unknown) => settle() && reject(err),
      );
    });
  }

  private leave(key: string, flight: Flight<T>, abandoned: boolean): void {
    flight.waiters--;
    if (!abandoned || flight.waiters > 0) return;
    this.drop(key, flight);
    flight.controller.abort(
      new ModgateError('CLIENT_GONE', 'every client waiting for this work went away'),
    );
  }
}

function reasonOf(signal: AbortSignal): unknown {
  return signal.reason ?? new ModgateError('CLIENT_GONE', 'the client went away');
}
