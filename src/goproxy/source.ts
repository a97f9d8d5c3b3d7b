import type { Readable } from 'node:stream';
import { getFromChain, type UpstreamClient, type UpstreamResponse } from '../upstream/client.js';
import type { ProxyEntry } from '../upstream/proxy-list.js';
import { upstreamPath, type ProxyRequest } from './paths.js';
import type { Route } from './router.js';

/** An answer in GOPROXY terms: 200 with a body, or 404/410. */
export interface SourceResponse {
  /** Names the source in records and errors (a proxy URL without userinfo, or vcs:PATTERN). */
  upstream: string;
  status: number;
  body: Readable & { dump(): Promise<unknown> };
}

/**
 * A source of modules that is not an upstream proxy (version control through
 * the go command, src/vcs). It answers GOPROXY requests, so what it returns
 * goes through the same caps, zip rules, checksums and policy as a proxy's.
 */
export interface ModuleSource {
  readonly name: string;
  get(req: ProxyRequest, signal: AbortSignal): Promise<SourceResponse>;
  close(): Promise<void>;
}

/** Walks an upstream chain for one path (src/routing: equivalent mirrors by score). */
export interface ChainWalker {
  get(chain: readonly ProxyEntry[], path: string, signal?: AbortSignal): Promise<UpstreamResponse>;
}

/** Fetches a GOPROXY request from a route: its own source when it has one, else its chain. */
export function fetchFromRoute(
  client: UpstreamClient,
  route: Route,
  req: ProxyRequest,
  signal: AbortSignal,
): Promise<SourceResponse> {
  if (route.fetcher) return route.fetcher.get(req, signal);
  if (route.walker) return route.walker.get(route.chain, upstreamPath(req), signal);
  return getFromChain(client, route.chain, upstreamPath(req), signal);
}
