import { isModgateError } from '../errors.js';
import { parseModFile, isRetracted } from '../integrity/modfile.js';
import { compare, isValid, prerelease } from '../integrity/semver.js';
import type { ArtifactService } from './artifacts.js';
import type { MetadataService } from './metadata.js';
import type { ModuleFacts } from '../contracts.js';
import { ByteLru } from '../storage/lru.js';

const LIST_INFO_PARALLELISM = 8;

/**
 * Gathers the facts that policy rules need: publish time from .info,
 * retraction and deprecation from the go.mod that the go command itself would
 * read (highest release of the unfiltered list, else highest prerelease).
 * Everything goes through the verified artifact path and its cache.
 */
export class FactsService {
  private readonly memo = new ByteLru<{ at: number; facts: ModuleFacts }>(4096);

  constructor(
    private readonly artifacts: ArtifactService,
    private readonly metadata: MetadataService,
    /** How long gathered facts are reused (the list TTL: retractions come from the list). */
    private readonly ttlMs = 60_000,
  ) {}

  async forVersion(module: string, version: string): Promise<ModuleFacts> {
    const key = `${module}@${version}`;
    const hit = this.memo.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return { ...hit.facts };
    const facts = await this.gather(module, version);
    this.memo.set(key, { at: Date.now(), facts }, 1);
    return { ...facts };
  }

  private async gather(module: string, version: string): Promise<ModuleFacts> {
    const [publishTime, latestMod] = await Promise.all([
      this.publishTime(module, version),
      this.latestGoMod(module),
    ]);
    const facts: ModuleFacts = {};
    if (publishTime) facts.publishTime = publishTime;
    if (latestMod) {
      facts.retracted = isRetracted(version, latestMod.retract);
      if (latestMod.deprecated) facts.deprecated = latestMod.deprecated;
    }
    return facts;
  }

  /** Facts for each version of a list, fetched in bounded parallel. */
  async forList(module: string, versions: string[]): Promise<Map<string, ModuleFacts>> {
    const latestMod = await this.latestGoMod(module);
    const out = new Map<string, ModuleFacts>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < versions.length) {
        const v = versions[next++]!;
        const facts: ModuleFacts = {};
        const t = await this.publishTime(module, v);
        if (t) facts.publishTime = t;
        if (latestMod) facts.retracted = isRetracted(v, latestMod.retract);
        out.set(v, facts);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(LIST_INFO_PARALLELISM, versions.length) }, worker),
    );
    return out;
  }

  private async publishTime(module: string, version: string): Promise<string | undefined> {
    try {
      const hit = await this.artifacts.get(module, version, 'info');
      const raw = await this.artifacts.read(hit.key);
      const info = JSON.parse(raw.toString('utf8')) as { Time?: string };
      return info.Time;
    } catch (err) {
      if (isModgateError(err)) return undefined;
      throw err;
    }
  }

  private async latestGoMod(module: string): Promise<ReturnType<typeof parseModFile> | undefined> {
    try {
      const list = await this.metadata.get({ kind: 'list', module });
      const versions = parseList(list.body);
      const target = highestForRetractions(versions);
      if (!target) return undefined;
      const hit = await this.artifacts.get(module, target, 'mod');
      return parseModFile((await this.artifacts.read(hit.key)).toString('utf8'));
    } catch (err) {
      if (isModgateError(err)) return undefined;
      throw err;
    }
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
