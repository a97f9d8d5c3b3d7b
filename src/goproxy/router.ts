import { matchPrefixPatterns } from '../integrity/module.js';
import { upstreamChain, type ProxyEntry } from '../upstream/proxy-list.js';
import type { ChainWalker, ModuleSource } from './source.js';

export interface Route {
  pattern: string;
  chain: ProxyEntry[];
  /** Private modules never reach public upstreams or the checksum database. */
  private: boolean;
  /** A route served by its own source (version control) rather than a chain. */
  fetcher?: ModuleSource;
  /** Walks the chain (adaptive routing among equivalent mirrors); absent: the fixed GOPROXY order. */
  walker?: ChainWalker;
}

/**
 * Chooses the upstream chain of a module path. Routes match with Go's
 * prefix-pattern rules (GOPRIVATE syntax), first match wins. Paths matching the
 * private patterns use only private routes; with none they get no upstream, so
 * private names never leave the company.
 */
export class Router {
  private readonly routes: Route[];
  private readonly publicChain: ProxyEntry[];

  constructor(
    opts: {
      publicUpstream: string;
      routes: Array<{
        pattern: string;
        upstream: string;
        private: boolean;
        fetcher?: ModuleSource;
      }>;
      privatePatterns: string;
      noSumdbPatterns: string;
      walker?: ChainWalker;
    },
    private readonly patterns = { private: opts.privatePatterns, noSumdb: opts.noSumdbPatterns },
    private readonly walker = opts.walker,
  ) {
    this.publicChain = upstreamChain(opts.publicUpstream);
    this.routes = opts.routes.map((r) => ({
      pattern: r.pattern,
      chain: r.fetcher ? [] : upstreamChain(r.upstream),
      // A module fetched from version control is private: no public chain, no sumdb.
      private: r.private || r.fetcher !== undefined,
      ...(r.fetcher ? { fetcher: r.fetcher } : {}),
      ...(this.walker ? { walker: this.walker } : {}),
    }));
  }

  isPrivate(modulePath: string): boolean {
    return this.patterns.private !== '' && matchPrefixPatterns(this.patterns.private, modulePath);
  }

  /** True when the module must be verified by TOFU rather than the checksum database. */
  skipsSumdb(modulePath: string): boolean {
    if (this.isPrivate(modulePath)) return true;
    if (this.patterns.noSumdb !== '' && matchPrefixPatterns(this.patterns.noSumdb, modulePath))
      return true;
    return this.route(modulePath).private;
  }

  route(modulePath: string): Route {
    const priv = this.isPrivate(modulePath);
    for (const r of this.routes) {
      if (!matchPrefixPatterns(r.pattern, modulePath)) continue;
      if (priv && !r.private) continue;
      return r;
    }
    return {
      pattern: '*',
      chain: priv ? [] : this.publicChain,
      private: priv,
      ...(this.walker ? { walker: this.walker } : {}),
    };
  }

  get publicUpstreams(): ProxyEntry[] {
    return this.publicChain;
  }

  /** Stops every route's own source (their processes are killed and awaited). */
  async close(): Promise<void> {
    await Promise.all(this.routes.map((r) => r.fetcher?.close()));
  }
}
