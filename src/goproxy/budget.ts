import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What one request may spend on upstream work: a number of upstream fetches
 * and a deadline. Versions whose facts could not be gathered within it are
 * named in `hidden`, so that the list leaves them out (fail closed).
 */
export class RequestBudget {
  readonly hidden = new Set<string>();
  readonly signal: AbortSignal;
  private left: number;

  constructor(fetches: number, ms: number, signal?: AbortSignal) {
    this.left = fetches;
    const timeout = AbortSignal.timeout(ms);
    this.signal = signal ? AbortSignal.any([signal, timeout]) : timeout;
  }

  get remaining(): number {
    return this.left;
  }

  /** Takes one upstream fetch from the budget; false when it is spent or out of time. */
  take(): boolean {
    if (this.left <= 0 || this.signal.aborted) return false;
    this.left--;
    return true;
  }
}

/**
 * The budget of the request being served. It travels with the async context
 * so that the policy gate's list-facts callback spends the budget of the
 * request that called it, without every layer in between passing it on.
 */
export const currentBudget = new AsyncLocalStorage<RequestBudget>();
