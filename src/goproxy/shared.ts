import { abortReason, raceSignal, type TaskSet } from './tasks.js';

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/**
 * Single-flight for work shared by several requests. The work runs under its
 * own signal (tracked by the task set, so close() aborts it); each caller waits
 * only as long as its own signal allows, and the work is aborted once every
 * caller has left.
 */
export class SharedWork<T> {
  private readonly flights = new Map<string, Flight<T>>();

  constructor(private readonly tasks: TaskSet) {}

  get size(): number {
    return this.flights.size;
  }

  async do(
    key: string,
    signal: AbortSignal,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (signal.aborted) throw abortReason(signal);
    let f = this.flights.get(key);
    if (!f) {
      const controller = new AbortController();
      const both = AbortSignal.any([controller.signal, this.tasks.signal]);
      const promise = this.tasks
        .run(() => work(both))
        .finally(() => {
          if (this.flights.get(key) === f) this.flights.delete(key);
        });
      promise.catch(() => undefined);
      f = { promise, controller, waiters: 0 };
      this.flights.set(key, f);
    }
    const flight = f;
    flight.waiters++;
    try {
      return await raceSignal(flight.promise, signal);
    } finally {
      flight.waiters--;
      if (flight.waiters === 0 && signal.aborted) {
        // Nobody waits any more: the download is abandoned rather than finished for no one.
        flight.controller.abort(signal.reason);
        if (this.flights.get(key) === flight) this.flights.delete(key);
      }
    }
  }
}
