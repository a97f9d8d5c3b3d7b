import type {
  Decision,
  DecisionRequest,
  Identity,
  ModuleFacts,
  PolicyFact,
  PolicyGate,
} from '../contracts.js';
import { ModgateError } from '../errors.js';
import { PolicyEngine, type RawDecision } from './engine.js';
import type { CompiledData, PolicyData } from './data.js';
import { DecisionCache } from './cache.js';
import {
  DEFAULT_BUDGET_MS,
  evaluateRequest,
  policyError,
  type Evaluation,
  type GateDecision,
} from './evaluation.js';
import { factsNeeded } from './needs.js';
import type { PolicyPool } from './pool.js';

export interface GateOptions {
  mode: 'enforce' | 'dry-run';
  /** Facts per version, for filtering lists: only those in `needs` are fetched. */
  listFacts?: (
    module: string,
    versions: string[],
    needs: ReadonlySet<PolicyFact>,
  ) => Promise<Map<string, ModuleFacts>>;
  /** Called on engine errors (an audit security event). */
  onPolicyError?: (req: DecisionRequest, d: RawDecision) => void;
  /** Decision cache size in entries (default 10,000; 0 turns the cache off). */
  cacheEntries?: number;
  /** The time budget of one in-thread evaluation (a PolicyPool has its own); default 50 ms. */
  budgetMs?: number;
  now?: () => Date;
  /** The vulnerability facts of a version (src/vuln), added to every decision with a version. */
  vulns?: (module: string, version: string) => Pick<ModuleFacts, 'vulns' | 'vulndb'>;
}

/**
 * The policy gate of the fetch flow: evaluates through a decision cache and
 * applies the mode (dry-run turns denials into warnings). Decisions run in a
 * PolicyPool's workers (the gateway: bounded in time, off the event loop) or
 * in this thread on a PolicyEngine (one-shot commands: an overrun is only
 * detected after it).
 */
export class RegoGate implements PolicyGate {
  readonly cache: DecisionCache<GateDecision>;

  constructor(
    private readonly engine: PolicyEngine | PolicyPool,
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

  async decide(request: DecisionRequest): Promise<Decision> {
    const req = this.withVulns(request);
    const { decision: raw, policyRevision, dataRevision } = await this.evaluateAsync(req);
    if (!raw.allow && raw.deny.some((r) => r.code === 'POLICY_ERROR'))
      this.opts.onPolicyError?.(req, raw);
    const base = { policyRevision, dataRevision };
    if (this.opts.mode === 'dry-run' && !raw.allow) {
      const warn = [
        ...raw.warn,
        ...raw.deny.map((r) => ({ code: r.code, message: `dry-run, would deny: ${r.message}` })),
      ];
      return { allow: true, deny: [], warn, dryRun: true, ...base };
    }
    return {
      allow: raw.allow,
      deny: raw.deny,
      warn: raw.warn,
      dryRun: this.opts.mode === 'dry-run',
      ...base,
      ...(raw.notFound ? { notFound: true } : {}),
    };
  }

  /** The versions of a list that metadata rules allow (sources, bans, cool-down, retraction, pseudo). */
  async filterVersions(module: string, versions: string[], identity: Identity): Promise<string[]> {
    const needs = this.factsNeeded();
    const facts =
      this.opts.listFacts && needs.size > 0
        ? await this.opts.listFacts(module, versions, needs)
        : new Map<string, ModuleFacts>();
    const decisions = await Promise.all(
      versions.map((version) =>
        this.decide({ kind: 'list', module, version, identity, facts: facts.get(version) ?? {} }),
      ),
    );
    return versions.filter((_, i) => decisions[i]!.allow);
  }

  private withVulns(req: DecisionRequest): DecisionRequest {
    if (!this.opts.vulns || !req.version || req.facts.vulndb) return req;
    return { ...req, facts: { ...req.facts, ...this.opts.vulns(req.module, req.version) } };
  }

  /** The policy data's thresholds and modes, for hosts that check fact availability. */
  engineData(): PolicyData {
    return this.engine instanceof PolicyEngine ? this.engine.data.raw : this.engine.settings;
  }

  /** The compiled data (in-thread engines only: a pool keeps it in its workers). */
  engineDataCompiled(): CompiledData {
    if (!(this.engine instanceof PolicyEngine))
      throw new ModgateError(
        'POLICY_ERROR',
        'the compiled policy data lives in the policy workers',
      );
    return this.engine.data;
  }

  /** The gathered facts the policy in force needs (src/policy/needs.ts), as of its current data. */
  factsNeeded(): ReadonlySet<PolicyFact> {
    return factsNeeded(this.engineData(), this.engine.bundled);
  }

  /** Evaluates in this thread, through the decision cache (in-thread engines only). */
  evaluate(request: DecisionRequest): RawDecision {
    const req = this.withVulns(request);
    if (!(this.engine instanceof PolicyEngine))
      return policyError('synchronous evaluation needs an in-thread policy engine: denying');
    const engine = this.engine;
    const { epoch, hit } = this.lookup(req);
    if (hit) return hit;
    const budget = this.opts.budgetMs ?? DEFAULT_BUDGET_MS;
    return this.store(req, epoch, evaluateRequest(engine, req, this.now(), budget)).decision;
  }

  private async evaluateAsync(req: DecisionRequest): Promise<Evaluation> {
    if (this.engine instanceof PolicyEngine) {
      const decision = this.evaluate(req);
      return { decision, boundary: 0, ...this.revisions() };
    }
    const { epoch, hit } = this.lookup(req);
    if (hit) return { decision: hit, boundary: 0, ...this.revisions() };
    return this.store(req, epoch, await this.engine.run(req, this.now()));
  }

  private lookup(req: DecisionRequest): { epoch: number; hit?: GateDecision } {
    const { policyRevision, dataRevision } = this.revisions();
    const key = DecisionCache.requestKey(policyRevision, dataRevision, req);
    const epoch = Math.floor(this.now().getTime() / 1000);
    const hit = this.cache.get(key, epoch);
    return { epoch, ...(hit ? { hit } : {}) };
  }

  /** Caches under the revisions the decision was made with (a reload may have landed meanwhile). */
  private store(req: DecisionRequest, epoch: number, e: Evaluation): Evaluation {
    const key = DecisionCache.requestKey(e.policyRevision, e.dataRevision, req);
    this.cache.set(key, e.decision, epoch, e.boundary);
    return e;
  }

  private revisions(): { policyRevision: string; dataRevision: string } {
    return { policyRevision: this.engine.policyRevision, dataRevision: this.engine.dataRevision };
  }

  private now(): Date {
    return (this.opts.now ?? (() => new Date()))();
  }
}
