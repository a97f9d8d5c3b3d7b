import { isModgateError } from '../errors.js';
import { parseModFile, isRetracted } from '../integrity/modfile.js';
import { compare, isValid, prerelease } from '../integrity/semver.js';
import type { ArtifactService } from './artifacts.js';
import type { MetadataService } from './metadata.js';
import type { ModuleFacts, PolicyFact } from '../contracts.js';
import { ByteLru } from '../storage/lru.js';
import { currentBudget, type RequestBudget } from './budget.js';
import { SharedWork } from './shared.js';
import type { TaskSet } from './tasks.js';

type ModFacts = ReturnType<typeof parseModFile>;

export interface FactsOptions {
  /** How long the module's go.mod facts are reused (the list TTL: retractions come from the list). */
  ttlMs: number;
  /** .info fetches of one list gathered at once. */
  listConcurrency: number;
  /** Background work (prefetches) that close() aborts and awaits. */
  tasks: TaskSet;
}

/**
 * Gathers the facts that policy rules need: publish time from .info,
 * retraction and deprecation from the go.mod that the go command itself would
 * read (highest release of the unfiltered list, else highest prerelease).
 * Everything goes through the verified artifact path and its cache. Module
 * facts (the latest go.mod) are gathered once per module and shared by all its
 * versions (concurrent requests of one module share one gathering); publish
 * times are immutable and kept for good.
 */
export class FactsService {
  private readonly modules = new ByteLru<{ at: number; mod: ModFacts | null }>(4096);
  /** Module facts being gathered, shared by every version that asks meanwhile. */
  private readonly gathering: SharedWork<ModFacts | null>;
  /** Publish times per module: version -> Time (null: the .info has none). */
  private readonly times = new ByteLru<Map<string, string | null>>(4 * 1024 * 1024);

  constructor(
    private readonly artifacts: ArtifactService,
    private readonly metadata: MetadataService,
    private readonly opts: FactsOptions,
  ) {
    this.gathering = new SharedWork(opts.tasks);
  }

  /**
   * Starts gathering all of a version's facts in the background (tracked:
   * close() aborts and awaits it), for a decision that will join what it needs.
   */
  prefetch(module: string, version: string, signal: AbortSignal): void {
    this.opts.tasks
      .run((stop) => this.forVersion(module, version, AbortSignal.any([signal, stop])))
      .catch(() => undefined);
  }

  /**
   * A version's facts: those in `needs` gathered (joining a gathering already
   * under way), the others as far as they are known.
   */
  async forVersion(
    module: string,
    version: string,
    signal?: AbortSignal,
    needs: ReadonlySet<PolicyFact> = ALL_FACTS,
  ): Promise<ModuleFacts> {
    const known = (): string | undefined => this.times.get(module)?.get(version) ?? undefined;
    const [publishTime, mod] = await Promise.all([
      needs.has('publishTime') ? this.publishTime(module, version, signal) : known(),
      needs.has('retracted') || needs.has('deprecated')
        ? this.moduleFacts(module, signal)
        : this.freshModule(module),
    ]);
    return factsOf(version, publishTime, mod);
  }

  /**
   * What is known of a version now, from what earlier requests gathered,
   * without any upstream request: for decisions that need no facts.
   */
  known(module: string, version: string): ModuleFacts {
    const time = this.times.get(module)?.get(version) ?? undefined;
    return factsOf(version, time, this.freshModule(module));
  }

  /** The module's go.mod facts if gathered within the TTL, without fetching. */
  private freshModule(module: string): ModFacts | null {
    const memo = this.modules.get(module);
    return memo && Date.now() - memo.at < this.opts.ttlMs ? memo.mod : null;
  }

  /**
   * Facts for each version of a list, gathered lazily and concurrently under
   * the request's budget (currentBudget). A version whose publish time could
   * not be had within the budget is added to budget.hidden and left out. Only
   * the facts in `needs` are fetched; others are taken from what is known.
   */
  async forList(
    module: string,
    versions: string[],
    needs: ReadonlySet<PolicyFact> = ALL_FACTS,
  ): Promise<Map<string, ModuleFacts>> {
    const budget = currentBudget.getStore();
    const mod =
      needs.has('retracted') || needs.has('deprecated')
        ? await this.moduleFacts(module, budget?.signal, budget)
        : this.freshModule(module);
    const times = this.timesOf(module);
    const out = new Map<string, ModuleFacts>();
    const set = (v: string, t: string | null | undefined): void => {
      const facts: ModuleFacts = {};
      if (t) facts.publishTime = t;
      if (mod) facts.retracted = isRetracted(v, mod.retract);
      out.set(v, facts);
    };
    const todo: string[] = [];
    for (const v of versions) {
      if (times.has(v) || !needs.has('publishTime')) set(v, times.get(v));
      else todo.push(v);
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const v = todo[next++]!;
        const t = await this.listTime(module, v, budget);
        if (t === 'hidden') budget?.hidden.add(v);
        else set(v, t);
      }
    };
    const n = Math.min(this.opts.listConcurrency, todo.length);
    await Promise.all(Array.from({ length: n }, worker));
    this.times.set(module, times, 64 * times.size + 64);
    return out;
  }

  /** One version's publish time for a list: from cache, else one budgeted fetch. */
  private async listTime(
    module: string,
    version: string,
    budget: RequestBudget | undefined,
  ): Promise<string | null | undefined | 'hidden'> {
    if (budget?.signal.aborted) return 'hidden';
    let hit = await this.artifacts.peek({ kind: 'info', module, version }).catch(() => null);
    if (!hit) {
      if (budget && !budget.take()) return 'hidden';
      try {
        hit = await this.artifacts.get(module, version, 'info', budget?.signal);
      } catch (err) {
        if (budget?.signal.aborted) return 'hidden';
        if (isModgateError(err)) return undefined;
        throw err;
      }
    }
    const t = infoTime(hit.body);
    this.timesOf(module).set(version, t);
    return t;
  }

  private timesOf(module: string): Map<string, string | null> {
    let m = this.times.get(module);
    if (!m) {
      m = new Map();
      this.times.set(module, m, 64);
    }
    return m;
  }

  private async publishTime(
    module: string,
    version: string,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const known = this.times.get(module)?.get(version);
    if (known !== undefined) return known ?? undefined;
    try {
      const hit = await this.artifacts.get(module, version, 'info', signal);
      const t = infoTime(hit.body);
      this.timesOf(module).set(version, t);
      return t ?? undefined;
    } catch (err) {
      if (isModgateError(err)) return undefined;
      throw err;
    }
  }

  /**
   * The module's latest go.mod (retractions, deprecation), shared by all its
   * versions: gathered once per TTL, and once for all the requests that ask
   * while it is being gathered.
   */
  private async moduleFacts(
    module: string,
    signal?: AbortSignal,
    budget?: RequestBudget,
  ): Promise<ModFacts | null> {
    const memo = this.modules.get(module);
    if (memo && Date.now() - memo.at < this.opts.ttlMs) return memo.mod;
    // Up to two fetches: the list (when its cache expired) and the go.mod.
    if (budget && !(budget.take() && budget.take())) return null;
    try {
      // Shared by the requests that ask meanwhile; abandoned once every one has left.
      return await this.gathering.do(module, signal ?? NEVER, (s) => this.gatherModule(module, s));
    } catch (err) {
      if (isModgateError(err)) return null;
      throw err;
    }
  }

  private async gatherModule(module: string, signal: AbortSignal): Promise<ModFacts | null> {
    try {
      const list = await this.metadata.get({ kind: 'list', module }, signal);
      const target = highestForRetractions(parseList(list.body));
      // No tagged version: nothing can retract one (retracted: false). A list or
      // go.mod that cannot be had throws instead, and retraction stays unknown.
      const mod = target
        ? parseModFile(
            (await this.artifacts.get(module, target, 'mod', signal)).body?.toString('utf8') ?? '',
          )
        : NO_VERSIONS;
      this.modules.set(module, { at: Date.now(), mod }, 1);
      return mod;
    } catch (err) {
      if (isModgateError(err)) return null;
      throw err;
    }
  }
}

const NEVER = new AbortController().signal;

/** The go.mod facts of a module with no tagged version: no retractions, no deprecation. */
const NO_VERSIONS: ModFacts = Object.freeze({ retract: [] }) as ModFacts;

const ALL_FACTS: ReadonlySet<PolicyFact> = new Set(['publishTime', 'retracted', 'deprecated']);

function factsOf(
  version: string,
  publishTime: string | undefined,
  mod: ModFacts | null,
): ModuleFacts {
  const facts: ModuleFacts = {};
  if (publishTime) facts.publishTime = publishTime;
  if (mod) {
    facts.retracted = isRetracted(version, mod.retract);
    if (mod.deprecated) facts.deprecated = mod.deprecated;
  }
  return facts;
}

function infoTime(body: Buffer | undefined): string | null {
  try {
    const t = (JSON.parse(body?.toString('utf8') ?? '') as { Time?: unknown }).Time;
    return typeof t === 'string' ? t : null;
  } catch {
    return null;
  }
}

/** Versions of an @v/list body: the first field of each line, valid semver only. */
export function parseList(body: string): string[] {
  const out: string[] = [];
  for (const line of body.split('\n')) {
    const v = line.trim().split(/\s+/)[0];
    if (v && isValid(v)) out.push(v);
  }
  return out;
}

export function highestForRetractions(versions: string[]): string | undefined {
  const sorted = [...versions].sort(compare);
  const releases = sorted.filter((v) => prerelease(v) === '');
  return releases.at(-1) ?? sorted.at(-1);
}
