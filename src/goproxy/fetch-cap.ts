import { EventEmitter } from 'node:events';
import { ModgateError } from '../errors.js';
import { abortReason } from './tasks.js';

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

/**
 * The cap on cold fetches that download and verify at once. Beyond the cap,
 * fetches wait in a bounded queue; beyond the queue they are refused with
 * OVERLOADED (503 with Retry-After). A waiter whose signal aborts leaves the
 * queue at once.
 */
export class FetchCap extends EventEmitter<{ change: [] }> {
  private active = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private readonly opts: { concurrent: number; queue: number; retryAfterSeconds: number },
  ) {
    super();
  }

  get running(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves with a release function once a slot is free. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    if (this.active < this.opts.concurrent) {
      this.active++;
      this.emit('change');
      return Promise.resolve(this.releaser());
    }
    if (this.queue.length >= this.opts.queue) {
      return Promise.reject(
        new ModgateError(
          'OVERLOADED',
          `modgate is busy: ${this.active} downloads are being verified and ${this.queue.length} wait; retry shortly`,
          { retryAfterSeconds: this.opts.retryAfterSeconds },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) this.queue.splice(i, 1);
          reject(abortReason(signal));
          this.emit('change');
        },
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
      this.queue.push(w);
      this.emit('change');
    });
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.queue.shift();
      if (!next) {
        this.active--;
        this.emit('change');
        return;
      }
      next.signal.removeEventListener('abort', next.onAbort);
      next.resolve(this.releaser());
      this.emit('change');
    };
  }
}
