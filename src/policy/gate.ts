import type {
  Decision,
  DecisionRequest,
  Identity,
  ModuleFacts,
  PolicyGate,
} from '../goproxy/ports.js';
import { ByteLru } from '../storage/lru.js';
import type { PolicyEngine, RawDecision } from './engine.js';
import { buildInput, nextBoundary } from './input.js';
import type { CompiledData } from './data.js';

export interface GateOptions {
  mode: 'enforce' | 'dry-run';
  /** Facts per version, for filtering lists (publish time, retraction). */
  listFacts?: (module: string, versions: string[]) => Promise<Map<string, ModuleFacts>>;
  /** Called on engine errors (an audit security event). */
  onPolicyError?: (req: DecisionRequest, d: RawDecision) => void;
  cacheEntries?: number;
  now?: () => Date;
}

const DEFAULT_TTL_S = 300;

/**
 * The policy gate of the fetch flow: builds the input, evaluates through a
 * decision cache, and applies the mode (dry-run turns denials into warnings).
 */
export class RegoGate implements PolicyGate {
  private readonly cache: ByteLru<{ d: RawDecision; until: number }>;
  hits = 0;
  misses = 0;

  constructor(
    private readonly engine: PolicyEngine,
    private readonly opts: GateOptions,
  ) {
    this.cache = new ByteLru(opts.cacheEntries ?? 10_000);
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

  /** Evaluates through the cache keyed by revisions and the input without the request time. */
  evaluate(req: DecisionRequest): RawDecision {
    const now = (this.opts.now ?? (() => new Date()))();
    const input = buildInput(req, this.engine.data, now);
    const { time: _t, epoch: _e, ...request } = input.request;
    const key = `${this.engine.policyRevision}/${this.engine.dataRevision}/${JSON.stringify({ ...input, request })}`;
    const epoch = input.request.epoch;
    const hit = this.cache.get(key);
    if (hit && epoch < hit.until) {
      this.hits++;
      return hit.d;
    }
    this.misses++;
    const d = this.engine.evaluate(input);
    const boundary = nextBoundary(input, this.engine.data);
    const until = Math.min(epoch + DEFAULT_TTL_S, boundary);
    if (!d.deny.some((r) => r.code === 'POLICY_ERROR')) this.cache.set(key, { d, until }, 1);
    return d;
  }
}
