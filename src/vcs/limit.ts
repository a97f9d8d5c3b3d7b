import { ModgateError } from '../errors.js';

/** A counting semaphore: at most `slots` holders; waiters leave when their signal aborts. */
export class Slots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly slots: number) {}

  get active(): number {
    return this.used;
  }

  async acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) throw reasonOf(signal);
    if (this.used < this.slots) {
      this.used++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(reasonOf(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      // A slot handed to a waiter stays in use.
      if (next) next();
      else this.used--;
    };
  }
}

function reasonOf(signal: AbortSignal): unknown {
  return signal.reason ?? new ModgateError('CLIENT_GONE', 'the client went away');
}
