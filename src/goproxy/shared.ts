import { createHash } from 'node:crypto';
import { ModgateError } from '../errors.js';
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

/** A lease of src/state (structural, so that this room imports no engine). */
export interface FetchLease {
  key: string;
  token: string;
  holder: string;
  expiresAt: number;
}

export interface FetchLeases {
  acquire(key: string, ttlMs: number): Promise<FetchLease | null>;
  renew(lease: FetchLease, ttlMs: number): Promise<boolean>;
  release(lease: FetchLease): Promise<void>;
}

export interface ClusterFlightOptions {
  leases: FetchLeases;
  /** Lease lifetime without a renewal; renewed every third of it while the work runs. */
  ttlMs: number;
  /** Longest pause between looks while another replica holds the lease. */
  maxPollMs: number;
  /** Longest a caller waits for other replicas before it gives up (bounds the loop). */
  maxWaitMs: number;
  onLostLease?: (key: string) => void;
}

const FIRST_POLL_MS = 20;

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortReason(signal));
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Single-flight across replicas, around the in-process SharedWork: a cold miss
 * takes the cluster lease for the key, looks at the cache again once it holds
 * it (another replica may just have finished), and only then does the work.
 * Without the lease it waits (bounded backoff), looking at the cache each time,
 * and takes over once the holder releases the lease or stops renewing it (a
 * crashed holder delays others by at most the lease ttl). Nothing here is
 * trusted: whatever the cache yields is checked by `check` as any hit is.
 */
export class ClusterFlight {
  constructor(private readonly o: ClusterFlightOptions) {}

  async run<T>(
    key: string,
    signal: AbortSignal,
    check: () => Promise<T | null>,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const leaseKey = `fetch/${createHash('sha256').update(key).digest('hex')}`;
    const deadline = Date.now() + this.o.maxWaitMs;
    let wait = FIRST_POLL_MS;
    for (let round = 0; round < 100_000; round++) {
      const done = await check();
      if (done) return done;
      if (signal.aborted) throw abortReason(signal);
      const lease = await this.o.leases.acquire(leaseKey, this.o.ttlMs);
      if (lease) return this.hold(lease, signal, check, work);
      if (Date.now() + wait > deadline) break;
      await pause(wait, signal);
      wait = Math.min(wait * 2, this.o.maxPollMs);
    }
    throw new ModgateError(
      'STATE_UNAVAILABLE',
      `another replica has held the fetch lease for ${key} longer than ${this.o.maxWaitMs} ms`,
      { engine: 'lease' },
    );
  }

  private async hold<T>(
    lease: FetchLease,
    signal: AbortSignal,
    check: () => Promise<T | null>,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const every = Math.max(50, Math.floor(this.o.ttlMs / 3));
    let lost = false;
    const timer = setInterval(() => {
      if (lost) return;
      this.o.leases.renew(lease, this.o.ttlMs).then(
        (ok) => {
          // The work goes on: what it stores is verified either way, only the sharing is lost.
          if (!ok && !lost) {
            lost = true;
            this.o.onLostLease?.(lease.key);
          }
        },
        () => undefined,
      );
    }, every);
    timer.unref();
    try {
      return (await check()) ?? (await work(signal));
    } finally {
      clearInterval(timer);
      await this.o.leases.release(lease).catch(() => undefined);
    }
  }
}
