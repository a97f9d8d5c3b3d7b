import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { escapePath, escapeVersion } from '../integrity/module.js';
import { isRetracted, parseModFile } from '../integrity/modfile.js';
import { highestForRetractions, parseList } from '../goproxy/facts.js';
import type { ModuleFacts } from '../contracts.js';
import { PURPOSE_HEADER } from '../http/purpose.js';

export interface FactsSourceOptions {
  ca?: string;
  token?: string;
  /** A dispatcher of its own (the config's pinned one); else an agent trusting `ca`. */
  dispatcher?: Dispatcher;
}

/**
 * Fetches policy facts (publish time, retraction, deprecation) from a GOPROXY
 * (a running modgate, or the config's upstream). Every request says it is a
 * pre-flight, so a gateway records it as such. A failed fetch is remembered
 * (the first reason), so that the report says once why facts are missing.
 */
export class GatewayFacts {
  private readonly dispatcher: Dispatcher;
  private readonly own: boolean;
  private readonly token: string | undefined;
  private readonly latestMod = new Map<
    string,
    Promise<ReturnType<typeof parseModFile> | undefined>
  >();
  failures = 0;
  firstFailure: string | undefined;

  constructor(
    readonly base: string,
    opts: FactsSourceOptions,
  ) {
    this.token = opts.token;
    this.own = !opts.dispatcher;
    this.dispatcher =
      opts.dispatcher ??
      new Agent(opts.ca ? { connect: { ca: readFileSync(opts.ca, 'utf8') } } : {});
  }

  private fail(why: string): undefined {
    this.failures++;
    this.firstFailure ??= why;
    return undefined;
  }

  /** One GET of the proxy, marked pre-flight; a string says why it could not be made. */
  async open(p: string): Promise<Dispatcher.ResponseData | string> {
    try {
      return await request(`${this.base}${p}`, {
        dispatcher: this.dispatcher,
        headers: {
          [PURPOSE_HEADER]: 'preflight',
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
      });
    } catch (err) {
      const e = err as Error & { code?: string };
      return `${this.base} unreachable: ${e.code ? `${e.code}: ` : ''}${e.message}`;
    }
  }

  private async get(p: string): Promise<string | undefined> {
    const res = await this.open(p);
    if (typeof res === 'string') return this.fail(res);
    const text = await res.body.text().catch(() => '');
    if (res.statusCode === 200) return text;
    // Not found is an answer (the version has no such fact), anything else is a failure to learn it.
    if (res.statusCode === 404 || res.statusCode === 410) return undefined;
    return this.fail(
      `${this.base} answered ${res.statusCode}: ${text.split('\n')[0]?.slice(0, 200)}`,
    );
  }

  async forVersion(module: string, version: string): Promise<ModuleFacts> {
    const facts: ModuleFacts = {};
    const info = await this.get(`/${escapePath(module)}/@v/${escapeVersion(version)}.info`);
    let time: string | undefined;
    try {
      time = info ? (JSON.parse(info) as { Time?: string }).Time : undefined;
    } catch {
      this.fail(`${this.base}: the .info of ${module}@${version} is not JSON`);
    }
    if (typeof time === 'string') facts.publishTime = time;
    let latest = this.latestMod.get(module);
    if (!latest) {
      latest = this.fetchLatestMod(module);
      this.latestMod.set(module, latest);
    }
    const mod = await latest;
    if (mod) {
      facts.retracted = isRetracted(version, mod.retract);
      if (mod.deprecated) facts.deprecated = mod.deprecated;
    }
    return facts;
  }

  private async fetchLatestMod(
    module: string,
  ): Promise<ReturnType<typeof parseModFile> | undefined> {
    const list = await this.get(`/${escapePath(module)}/@v/list`);
    const target = list ? highestForRetractions(parseList(list)) : undefined;
    // No tagged version (an empty or missing list): nothing can retract one.
    if (!target) return { retract: [] };
    const text = await this.get(`/${escapePath(module)}/@v/${escapeVersion(target)}.mod`);
    try {
      return text ? parseModFile(text) : undefined;
    } catch {
      return this.fail(`${this.base}: the go.mod of ${module}@${target} does not parse`);
    }
  }

  async close(): Promise<void> {
    if (this.own) await this.dispatcher.close();
  }
}
