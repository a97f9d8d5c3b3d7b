import { ByteLru } from '../storage/lru.js';
import type { RawDecision } from './engine.js';
import type { DecisionRequest } from '../contracts.js';
import { factsOf } from './input.js';

/** The longest a decision is reused even when nothing in its input can change it (seconds). */
export const DEFAULT_DECISION_TTL_S = 300;

/**
 * Policy decisions keyed by (policy revision, data revision, request without
 * its time), each valid until the next moment that could change it (a
 * waiver's expiry, the end of a cool-down; see nextBoundary) and at most
 * maxTtlSeconds. Bounded by entry count, least recently used first out.
 * Fail-closed decisions (POLICY_ERROR) are never stored.
 */
export class DecisionCache<D extends RawDecision = RawDecision> {
  private lru: ByteLru<{ d: D; until: number }>;
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxTtlSeconds = DEFAULT_DECISION_TTL_S,
  ) {
    this.lru = new ByteLru(maxEntries);
  }

  /**
   * The cache key: both revisions and the request (kind, module, version,
   * identity, and the facts as the policy sees them), without the time. The
   * input is built from exactly these and the data (named by its revision), so
   * the key tells apart every pair of inputs, and it can be computed before the
   * input is (which a policy worker builds).
   */
  static requestKey(policyRevision: string, dataRevision: string, req: DecisionRequest): string {
    const { kind, module, version, identity } = req;
    const request = {
      kind,
      module,
      version,
      identity: { id: identity.id, method: identity.method, groups: identity.groups },
    };
    return `${policyRevision}/${dataRevision}/${JSON.stringify({ request, facts: factsOf(req), vulns: req.facts.vulns, vulndb: req.facts.vulndb, licenses: req.facts.licenses })}`;
  }

  get size(): number {
    return this.lru.size;
  }

  /** The decision stored under key if it is still valid at epoch (Unix seconds); counts hits and misses. */
  get(key: string, epoch: number): D | undefined {
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
  set(key: string, d: D, epoch: number, boundary = Infinity): void {
    if (d.deny.some((r) => r.code === 'POLICY_ERROR')) return;
    const until = Math.min(epoch + this.maxTtlSeconds, boundary);
    if (until <= epoch) return;
    this.lru.set(key, { d, until }, 1);
  }

  clear(): void {
    this.lru = new ByteLru(this.maxEntries);
  }
}
