import type { Decision, DecisionRequest, Identity, ModuleFacts, PolicyGate } from '../contracts.js';
import type { PolicyEngine, RawDecision } from './engine.js';
import { buildInput, nextBoundary } from './input.js';
import type { CompiledData } from './data.js';
import { DecisionCache } from './cache.js';

export interface GateOptions {
  mode: 'enforce' | 'dry-run';
  /** Facts per version, for filtering lists (publish time, retraction). */
  listFacts?: (module: string, versions: string[]) => Promise<Map<string, ModuleFacts>>;
  /** Called on engine errors (an audit security event). */
  onPolicyError?: (req: DecisionRequest, d: RawDecision) => void;
  /** Decision cache size in entries (default 10,000; 0 turns the cache off). */
  cacheEntries?: number;
  now?: () => Date;
}

/**
 * The policy gate of the fetch flow: builds the input, evaluates through a
 * decision cache, and applies the mode (dry-run turns denials into warnings).
 */
export class RegoGate implements PolicyGate {
  readonly cache: DecisionCache;

  constructor(
    private readonly engine: PolicyEngine,
    private readonly opts: GateOptions,
  ) {
    this.cache = new DecisionCache(opts.cacheEntries ?? 10_000);
  }

  /** Decisions answered from the cache. */
  get hits(): number {
    return this.cache.hits;
  }

  /** Decisions that needed an evaluation. */
  get misses(): number {
    return this.cache.misses;
  }

  async decide(req: DecisionRequest): Promise<Decision> {
    const raw = this.evaluate(req);
    if (!raw.allow && raw.deny.some((r) => r.code === 'POLICY_ERROR'))
      this.opts.onPolicyError?.(req, raw);
    const base = {
      policyRevision: this.engine.policyRevision,
      dataRevision: this.engine.dataRevision,
    };
    if (this.opts.mode === 'dry-run' && !raw.allow) {
      const warn = [
        ...raw.warn,
        ...raw.deny.map((r) => ({ code: r.code, message: `dry-run, would deny: ${r.message}` })),
      ];
      return { allow: true, deny: [], warn, dryRun: true, ...base };
    }
    const notFound =
      !raw.allow &&
      raw.deny.every((r) => r.code === 'SOURCE_NOT_ALLOWED') &&
      this.isAncestorOfAllowed(req.module);
    return {
      ...raw,
      dryRun: this.opts.mode === 'dry-run',
      ...base,
      ...(notFound ? { notFound } : {}),
    };
  }

  private isAncestorOfAllowed(module: string): boolean {
    return this.engine.data.allow.some((p) => p.startsWith(`${module}/`));
  }

  /** The versions of a list that metadata rules allow (sources, bans, cool-down, retraction, pseudo). */
  async filterVersions(module: string, versions: string[], identity: Identity): Promise<string[]> {
    const facts =
      this.opts.listFacts && this.needsListFacts()
        ? await this.opts.listFacts(module, versions)
        : new Map<string, ModuleFacts>();
    const out: string[] = [];
    for (const version of versions) {
      const d = await this.decide({
        kind: 'list',
        module,
        version,
        identity,
        facts: facts.get(version) ?? {},
      });
      if (d.allow) out.push(version);
    }
    return out;
  }

  /** The policy data as written (thresholds), for hosts that check fact availability. */
  engineData(): CompiledData['raw'] {
    return this.engine.data.raw;
  }

  engineDataCompiled(): CompiledData {
    return this.engine.data;
  }

  private needsListFacts(): boolean {
    const raw = this.engine.data.raw;
    return (raw.minReleaseAgeHours ?? 0) > 0 || raw.denyRetracted === true;
  }

  /** Evaluates through the decision cache (see DecisionCache for the key and expiry). */
  evaluate(req: DecisionRequest): RawDecision {
    const now = (this.opts.now ?? (() => new Date()))();
    const data = this.engine.data;
    const input = buildInput(req, data, now);
    const key = DecisionCache.key(this.engine.policyRevision, this.engine.dataRevision, input);
    const epoch = input.request.epoch;
    const hit = this.cache.get(key, epoch);
    if (hit) return hit;
    const d = this.engine.evaluate(input);
    this.cache.set(key, d, epoch, nextBoundary(input, data));
    return d;
  }
}
