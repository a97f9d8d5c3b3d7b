import { ModgateError, asModgateError } from '../errors.js';
import type { ArtifactHit, ArtifactService } from './artifacts.js';
import type { FactsService } from './facts.js';
import { parseList } from './facts.js';
import type { MetaResult, MetadataService } from './metadata.js';
import type { ArtifactKind } from './paths.js';
import type {
  AuditPort,
  Decision,
  DecisionKind,
  ModuleFacts,
  PolicyGate,
  RequestContext,
} from '../contracts.js';
import { compare } from '../integrity/semver.js';
import { currentBudget, RequestBudget } from './budget.js';
import { beforeFacts, zipFacts } from './zip-facts.js';

export interface Served<T> {
  value: T;
  decision: Decision;
  /**
   * Settles once the decision record is durable (artifacts only: the record
   * is group-committed while the answer streams). The answer's last bytes
   * wait for it; a rejection means the answer must not complete.
   */
  durable?: Promise<void>;
}

/**
 * The fetch -> verify -> decide -> record flow. Every module request that
 * reaches a decision leaves a durable decision record before its answer
 * completes: refusals and metadata before their first byte, artifacts before
 * their last (they stream while the record's group commit runs). A failed
 * audit write refuses the request, or aborts an artifact answer mid-body.
 */
export class GatewayFlow {
  constructor(
    private readonly d: {
      artifacts: ArtifactService;
      metadata: MetadataService;
      facts: FactsService;
      gate: PolicyGate;
      audit: AuditPort;
      /** Per-request bounds on upstream work (list facts). */
      budget: { upstreamFetches: number; ms: number };
    },
  ) {}

  /** Aborts and awaits every download, prefetch and refresh still running. */
  close(): Promise<void> {
    return this.d.artifacts.close();
  }

  async artifact(
    ctx: RequestContext,
    module: string,
    version: string,
    kind: ArtifactKind,
  ): Promise<Served<ArtifactHit>> {
    this.assertAuditable();
    // Source rules first, so that a disallowed source is never fetched.
    const pre = beforeFacts(
      await this.d.gate.decide({ kind, module, version, identity: ctx.identity, facts: {} }),
    );
    if (!pre.allow) return this.refuse(ctx, kind, module, version, pre);
    // Facts (publish time, retraction) are gathered while the zip downloads.
    const mine = kind === 'zip' ? new AbortController() : undefined;
    if (mine) this.d.facts.prefetch(module, version, AbortSignal.any([ctx.signal, mine.signal]));
    let hit: ArtifactHit;
    let facts: ModuleFacts = {};
    try {
      hit = await this.d.artifacts.get(module, version, kind, ctx, true);
      if (kind === 'zip') facts = await zipFacts(this.d, ctx, module, version);
    } catch (err) {
      mine?.abort(err);
      await this.recordFailure(ctx, kind, module, version, err);
      throw err;
    }
    if (kind === 'zip') {
      facts.zipSize = hit.info.size;
      if (hit.evidence.zip) facts.fileCount = hit.evidence.zip.fileCount;
      if (hit.evidence.zip?.licenses) facts.licenses = hit.evidence.zip.licenses;
    }
    if (kind !== 'info')
      facts.checksum = {
        verified: Boolean(hit.evidence.method),
        method: hit.evidence.method ?? 'none',
      };
    const decision =
      kind === 'zip'
        ? await this.d.gate.decide({ kind, module, version, identity: ctx.identity, facts })
        : pre;
    if (!decision.allow) return this.refuse(ctx, kind, module, version, decision, hit);
    // Appended now, awaited by the answer's last bytes (routes.ts): the group
    // commit runs while the answer streams, and no answer completes before it.
    const durable = this.record(ctx, kind, module, version, decision, hit.cache, hit);
    durable.catch(() => undefined);
    return { value: hit, decision, durable };
  }

  async list(ctx: RequestContext, module: string): Promise<Served<MetaResult>> {
    return this.meta(ctx, 'list', module, async (res) => {
      const versions = parseList(res.body);
      const budget = new RequestBudget(this.d.budget.upstreamFetches, this.d.budget.ms, ctx.signal);
      // The list itself was one upstream fetch of this request.
      budget.take();
      const allowed = new Set(
        await currentBudget.run(budget, () =>
          this.d.gate.filterVersions(module, versions, ctx.identity),
        ),
      );
      // Fail closed: a version whose facts were not gathered in time is not listed.
      for (const v of budget.hidden) allowed.delete(v);
      const lines = res.body.split('\n').filter((l) => {
        const v = l.trim().split(/\s+/)[0];
        return v && allowed.has(v);
      });
      return {
        ...res,
        body: lines.length ? `${lines.join('\n')}\n` : '',
        ...(budget.hidden.size ? { hidden: budget.hidden.size } : {}),
      };
    });
  }

  /**
   * @latest: the upstream's answer when the policy allows it, else the newest
   * allowed listed version. The answer is checked like a listed version even
   * when the list does not name it (an untagged module's pseudo-version, a
   * list that lags): a denied latest is never returned unchecked.
   */
  async latest(ctx: RequestContext, module: string): Promise<Served<MetaResult>> {
    return this.meta(ctx, 'latest', module, async (res) => {
      const list = await this.d.metadata.get({ kind: 'list', module }, ctx.signal);
      const listed = parseList(list.body);
      const latestUp = safeVersion(res.body);
      const versions = latestUp && !listed.includes(latestUp) ? [...listed, latestUp] : listed;
      const budget = new RequestBudget(this.d.budget.upstreamFetches, this.d.budget.ms, ctx.signal);
      budget.take();
      const allowed = (
        await currentBudget.run(budget, () =>
          this.d.gate.filterVersions(module, versions, ctx.identity),
        )
      ).filter((v) => !budget.hidden.has(v));
      if (!latestUp || allowed.includes(latestUp)) return res;
      const best = allowed.sort(compare).at(-1);
      if (!best) {
        throw new ModgateError(
          'POLICY_DENIED',
          `no allowed version of ${module}: its latest, ${latestUp}, is not allowed by policy`,
          { status: 403 },
        );
      }
      const hit = await this.d.artifacts.get(module, best, 'info', ctx.signal);
      return { ...res, body: hit.body?.toString('utf8') ?? '' };
    });
  }

  async query(ctx: RequestContext, module: string, query: string): Promise<Served<MetaResult>> {
    return this.meta(ctx, 'info', module, async (r) => r, query);
  }

  private async meta(
    ctx: RequestContext,
    kind: DecisionKind,
    module: string,
    shape: (r: MetaResult) => Promise<MetaResult>,
    query?: string,
  ): Promise<Served<MetaResult>> {
    this.assertAuditable();
    const decision = await this.d.gate.decide({ kind, module, identity: ctx.identity, facts: {} });
    if (!decision.allow) return this.refuse(ctx, kind, module, query, decision);
    let res: MetaResult;
    try {
      const raw = await this.d.metadata.get(
        query !== undefined
          ? { kind: 'query', module, query }
          : { kind: kind as 'list' | 'latest', module },
        ctx.signal,
      );
      res = raw.status === 200 ? await shape(raw) : raw;
    } catch (err) {
      await this.recordFailure(ctx, kind, module, query, err);
      throw err;
    }
    if (res.status === 404 || res.status === 410) {
      const code = res.status === 410 ? 'UPSTREAM_GONE' : 'UPSTREAM_NOT_FOUND';
      await this.recordFailure(
        ctx,
        kind,
        module,
        query,
        new ModgateError(code, 'not found upstream', { upstream: res.upstream }),
      );
      return { value: res, decision };
    }
    await this.record(ctx, kind, module, query, decision, res.cache, undefined, res.upstream);
    return { value: res, decision };
  }

  private assertAuditable(): void {
    if (!this.d.audit.healthy()) {
      throw new ModgateError(
        'AUDIT_UNAVAILABLE',
        'the audit trail cannot be written; modgate refuses to serve unrecorded',
      );
    }
  }

  private async refuse(
    ctx: RequestContext,
    kind: DecisionKind,
    module: string,
    version: string | undefined,
    decision: Decision,
    hit?: ArtifactHit,
  ): Promise<never> {
    await this.record(ctx, kind, module, version, decision, hit?.cache ?? 'miss', hit);
    if (decision.notFound)
      throw new ModgateError(
        'NOT_FOUND',
        `${module} is not an allowed module path (only a prefix of one)`,
      );
    const lines = decision.deny.map((r) => `${r.code}: ${r.message}`);
    throw new ModgateError('POLICY_DENIED', lines.join('\n'), { reasons: decision.deny });
  }

  private async record(
    ctx: RequestContext,
    kind: DecisionKind,
    module: string,
    version: string | undefined,
    decision: Decision,
    cache: 'hit' | 'miss' | 'stale',
    hit?: ArtifactHit,
    upstream?: string,
  ): Promise<void> {
    const verdict = !decision.allow ? 'deny' : decision.warn.length ? 'warn' : 'allow';
    const codes = [...decision.deny, ...decision.warn].map((r) => r.code);
    const ev = hit?.evidence;
    const written = this.d.audit.decision({
      ctx,
      kind,
      module,
      ...(version !== undefined ? { version } : {}),
      decision: verdict,
      codes,
      policyRevision: decision.policyRevision,
      dataRevision: decision.dataRevision,
      cache,
      ...((upstream ?? ev?.upstream) ? { upstream: upstream ?? ev?.upstream } : {}),
      ...(ev?.method && ev.h1
        ? {
            evidence: {
              method: ev.method,
              h1: ev.h1,
              ...(ev.sumdb ? { sumdb: ev.sumdb } : {}),
              ...(kind === 'zip' ? { zipSha256: ev.sha256 } : {}),
              ...(kind === 'zip' && ev.zip?.licenses ? { licenses: ev.zip.licenses } : {}),
            },
          }
        : {}),
    });
    // Durable (group-committed fsync) before the answer completes: metadata and refusals await
    // it before their first byte, artifacts before their last (Served.durable).
    await written;
  }

  private async recordFailure(
    ctx: RequestContext,
    kind: DecisionKind,
    module: string,
    version: string | undefined,
    err: unknown,
  ): Promise<void> {
    const e = asModgateError(err);
    await this.d.audit.decision({
      ctx,
      kind,
      module,
      ...(version !== undefined ? { version } : {}),
      decision: isNotAvailable(e) ? 'not_found' : 'error',
      codes: [e.code],
      cache: 'miss',
      ...(typeof e.details.upstream === 'string' ? { upstream: e.details.upstream } : {}),
    });
  }
}

/** The go command's "version not available" answers: 404, 410, and 403 from a proxy. */
function isNotAvailable(e: ModgateError): boolean {
  if (e.code === 'UPSTREAM_NOT_FOUND' || e.code === 'UPSTREAM_GONE') return true;
  return e.code === 'UPSTREAM_BAD_STATUS' && e.details.status === 403;
}

function safeVersion(body: string): string | undefined {
  try {
    const v = (JSON.parse(body) as { Version?: unknown }).Version;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
