import { ByteLru } from '../storage/lru.js';
import type { RawDecision } from './engine.js';
import type { PolicyInput } from './input.js';

/** The longest a decision is reused even when nothing in its input can change it (seconds). */
export const DEFAULT_DECISION_TTL_S = 300;

/**
 * Policy decisions keyed by (policy revision, data revision, input without the
 * request time), each valid until the next moment that could change it (a
 * waiver's expiry, the end of a cool-down; see nextBoundary) and at most
 * maxTtlSeconds. Bounded by entry count, least recently used first out.
 * Fail-closed decisions (POLICY_ERROR) are never stored.
 */
export class DecisionCache {
  private lru: ByteLru<{ d: RawDecision; until: number }>;
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxTtlSeconds = DEFAULT_DECISION_TTL_S,
  ) {
    this.lru = new ByteLru(maxEntries);
  }

  /** The cache key: both revisions and the input with request.time and request.epoch left out. */
  static key(policyRevision: string, dataRevision: string, input: PolicyInput): string {
    const { time: _t, epoch: _e, ...request } = input.request;
    return `${policyRevision}/${dataRevision}/${JSON.stringify({ ...input, request })}`;
  }

  get size(): number {
    return this.lru.size;
  }

  /** The decision stored under key if it is still valid at epoch (Unix seconds); counts hits and misses. */
  get(key: string, epoch: number): RawDecision | undefined {
    const e = this.lru.get(key);
    if (e && epoch < e.until) {
      this.hits++;
      return e.d;
    }
    if (e) this.lru.delete(key);
    this.misses++;
    return undefined;
  }

  /** Stores a decision made at epoch, valid until min(boundary, epoch + maxTtlSeconds). */
  set(key: string, d: RawDecision, epoch: number, boundary = Infinity): void {
    if (d.deny.some((r) => r.code === 'POLICY_ERROR')) return;
    const until = Math.min(epoch + this.maxTtlSeconds, boundary);
    if (until <= epoch) return;
    this.lru.set(key, { d, until }, 1);
  }

  clear(): void {
    this.lru = new ByteLru(this.maxEntries);
  }
}
