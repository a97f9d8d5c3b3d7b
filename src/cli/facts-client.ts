import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { escapePath, escapeVersion } from '../integrity/module.js';
import { isRetracted, parseModFile } from '../integrity/modfile.js';
import { highestForRetractions, parseList } from '../goproxy/facts.js';
import type { ModuleFacts } from '../contracts.js';

/** Fetches policy facts (publish time, retraction, deprecation) through a running modgate. */
export class GatewayFacts {
  private readonly dispatcher: Dispatcher;
  private readonly latestMod = new Map<
    string,
    Promise<ReturnType<typeof parseModFile> | undefined>
  >();

  constructor(
    private readonly base: string,
    opts: { ca?: string; token?: string },
    private readonly token = opts.token,
  ) {
    this.dispatcher = new Agent(opts.ca ? { connect: { ca: readFileSync(opts.ca, 'utf8') } } : {});
  }

  private async get(p: string): Promise<string | undefined> {
    const res = await request(`${this.base}${p}`, {
      dispatcher: this.dispatcher,
      ...(this.token ? { headers: { authorization: `Bearer ${this.token}` } } : {}),
    });
    const text = await res.body.text();
    return res.statusCode === 200 ? text : undefined;
  }

  async forVersion(module: string, version: string): Promise<ModuleFacts> {
    const facts: ModuleFacts = {};
    const info = await this.get(`/${escapePath(module)}/@v/${escapeVersion(version)}.info`);
    const time = info ? (JSON.parse(info) as { Time?: string }).Time : undefined;
    if (time) facts.publishTime = time;
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
    if (!target) return undefined;
    const text = await this.get(`/${escapePath(module)}/@v/${escapeVersion(target)}.mod`);
    return text ? parseModFile(text) : undefined;
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}
