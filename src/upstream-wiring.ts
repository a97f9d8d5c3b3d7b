/**
 * Builders for the upstream side, used by the composition root (src/main.ts)
 * and by CLI commands: the pinned dispatcher, the upstream client, the router
 * and the checksum-database client and proxy.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { ModgateConfig } from './config/types.js';
import type { AuditPort } from './contracts.js';
import { Router } from './goproxy/router.js';
import type { ModuleSource } from './goproxy/source.js';
import { SumdbRelay } from './goproxy/sumdb-relay.js';
import { SumdbClient } from './integrity/sumdb/client.js';
import { FsSumdbStore } from './integrity/sumdb/fs-store.js';
import { StateSumdbStore } from './state/sumdb.js';
import type { SharedState } from './state/types.js';
import { parseGoSumdb } from './integrity/sumdb/gosumdb.js';
import type { Metrics } from './observability/metrics.js';
import type { BlobStore } from './storage/types.js';
import { DEFAULT_GOOGLE_PINS } from './tls/pins.js';
import { UpstreamClient } from './upstream/client.js';
import { credentialMatcher } from './upstream/credentials.js';
import { redirectRules, type AddressPolicy } from './upstream/redirects.js';
import { createPinnedDispatcher, pinsFor, type PinnedDispatcher } from './upstream/pinned-agent.js';
import { UpstreamHealth } from './upstream/probe.js';
import { upstreamChain } from './upstream/proxy-list.js';
import { redactUrl } from './upstream/url.js';
import { asModgateError } from './errors.js';
import { SumdbTransport } from './upstream/sumdb-transport.js';
import { withLocalLookups } from './upstream/sumdb-local.js';
import { MirrorRouting, type RoutingOptions } from './routing/routing.js';
import { planGroups } from './routing/plan.js';

/** SPKI pins shipped for upstreams run by Google (the checksum database and the public module mirror). */
export const DEFAULT_PINS: Record<string, readonly string[]> = {
  'sum.golang.org': DEFAULT_GOOGLE_PINS,
  '*.golang.org': DEFAULT_GOOGLE_PINS,
  'vuln.go.dev': DEFAULT_GOOGLE_PINS,
};

/** The pinned undici dispatcher for upstreams: configured pins over the shipped defaults. */
export async function createDispatcher(
  config: ModgateConfig,
  logger: Logger,
  metrics?: Metrics,
  audit?: AuditPort,
): Promise<PinnedDispatcher> {
  const ca = config.extraCaFile ? [await readFile(config.extraCaFile, 'utf8')] : undefined;
  if (config.pinning === 'optional')
    logger.warn(
      'pinning is optional: upstreams without pins are trusted on the system roots alone',
    );
  if (config.allowHttpUpstream)
    logger.warn(
      'plain-HTTP upstreams are allowed (allowHttpUpstream): use only for local mirrors and tests',
    );
  return createPinnedDispatcher({
    pins: { ...DEFAULT_PINS, ...config.pins },
    pinning: config.pinning,
    allowHttp: config.allowHttpUpstream,
    ...(ca ? { ca } : {}),
    proxy: 'env',
    connectTimeoutMs: config.http.connectTimeoutMs,
    headersTimeoutMs: config.http.headersTimeoutMs,
    bodyTimeoutMs: config.http.bodyTimeoutMs,
    connections: config.http.connections,
    onPinEvent: (e) => {
      if (e.kind === 'unpinned')
        return logger.warn({ host: e.host }, 'upstream has no pins (pinning: optional)');
      logger.error(
        { host: e.host, expected: e.expected, seen: e.seen },
        'upstream certificate pin mismatch',
      );
      metrics?.security.inc({ event: 'PIN_MISMATCH' });
      void audit
        ?.security({
          event: 'PIN_MISMATCH',
          details: { host: e.host, expected: e.expected, seen: e.seen },
        })
        .catch(() => undefined);
    },
  });
}

/** The upstream HTTP client of a config, over the given (pinned) dispatcher. */
export function createUpstreamClient(
  config: ModgateConfig,
  dispatcher: Dispatcher,
  metrics?: Metrics,
  addresses?: AddressPolicy,
): UpstreamClient {
  return new UpstreamClient({
    dispatcher,
    headersTimeoutMs: config.http.headersTimeoutMs,
    bodyTimeoutMs: config.http.bodyTimeoutMs,
    retries: config.http.retries,
    retryBaseMs: config.http.retryBaseMs,
    deadlines: {
      smallMs: config.http.deadlineMs,
      zipBaseMs: config.http.zipDeadlineBaseMs,
      zipMinBytesPerSecond: config.http.zipMinBytesPerSecond,
      zipMaxBytes: config.limits.zipBytes,
    },
    credentials: credentialMatcher(config.credentials),
    redirects: redirectRules(config.followRedirects),
    ...(addresses ? { addresses } : {}),
    ...(metrics
      ? {
          onAttempt: (e) => {
            metrics.upstreamLatency.observe(
              { upstream: e.upstream, status: String(e.status ?? 'error') },
              e.ms / 1000,
            );
            if (e.status !== undefined && e.status < 500) metrics.lastUpstreamOk = Date.now();
          },
        }
      : {}),
  });
}

export interface Upstream {
  dispatcher: Dispatcher & { close(): Promise<void> };
  client: UpstreamClient;
  /** Aborts every upstream request in flight, then closes the connection pools. */
  close(): Promise<void>;
}

/**
 * The one builder of the upstream side: the pinned dispatcher and the client
 * over it. `serve` and every CLI command that reaches an upstream use it, so
 * all share the pins, the https rule, credentials and redirect rules.
 */
export async function buildUpstream(
  config: ModgateConfig,
  logger: Logger,
  opts: {
    metrics?: Metrics;
    audit?: AuditPort;
    dispatcher?: Dispatcher & { close(): Promise<void> };
    addresses?: AddressPolicy;
  } = {},
): Promise<Upstream> {
  const dispatcher =
    opts.dispatcher ?? (await createDispatcher(config, logger, opts.metrics, opts.audit));
  const client = createUpstreamClient(config, dispatcher, opts.metrics, opts.addresses);
  return {
    dispatcher,
    client,
    close: async () => {
      await client.close();
      await dispatcher.close().catch(() => undefined);
    },
  };
}

/**
 * The router of a config. vcs routes are served by their sources when given
 * (see createVcsSources); without one a vcs route has no upstream (404).
 */
export function createRouter(
  config: ModgateConfig,
  fetchers: ReadonlyMap<number, ModuleSource> = new Map(),
  routing?: MirrorRouting,
): Router {
  return new Router({
    ...(routing && routing.groups.length ? { walker: routing } : {}),
    publicUpstream: config.upstream ?? '',
    routes: config.routes.map((r, i) => {
      const fetcher = fetchers.get(i);
      return {
        pattern: r.pattern,
        upstream: r.upstream,
        private: r.private || r.source === 'vcs',
        ...(fetcher ? { fetcher } : {}),
      };
    }),
    privatePatterns: config.private,
    noSumdbPatterns: config.noSumdb,
  });
}

export function setupSumdb(
  config: ModgateConfig,
  client: UpstreamClient,
  router: Router,
  store: BlobStore,
  logger: Logger,
  hooks: Pick<ConstructorParameters<typeof SumdbRelay>[0], 'onSecurity' | 'onVerified'> = {},
  shared?: SharedState,
): { client: SumdbClient | null; relay: SumdbRelay | null; transport: SumdbTransport | null } {
  const spec = parseGoSumdb(config.sumdb);
  if (spec.off) {
    logger.warn('checksum database is off: every module is verified by trust on first use only');
    return { client: null, relay: null, transport: null };
  }
  const transport = new SumdbTransport({
    name: spec.name,
    client,
    chain: router.publicUpstreams,
    ...(spec.url ? { url: spec.url } : {}),
  });
  // Tiles stay local; the tree head and fork evidence live in the shared state when there is one.
  const tiles = new FsSumdbStore(path.join(config.dataDir, 'sumdb'));
  const state = shared ? new StateSumdbStore(tiles, shared) : tiles;
  // Lookups `modgate import` kept are read first; the client verifies them as any answer.
  const local = withLocalLookups(transport, config.dataDir, spec.name);
  const sumdb = new SumdbClient({
    name: spec.name,
    verifierKey: spec.verifierKey,
    transport: local,
    store: state,
    logger,
  });
  const relay = new SumdbRelay({
    name: spec.name,
    client: sumdb,
    transport: local,
    store: state,
    latestTtlSeconds: config.cache.sumdbLatestTtlSeconds,
    isPrivate: (m) => router.skipsSumdb(m),
    ...hooks,
  });
  return { client: sumdb, relay, transport };
}

/**
 * Adaptive routing among the config's groups of equivalent mirrors (none:
 * every chain keeps its fixed order). Probes are started by the caller.
 */
export function createMirrorRouting(
  config: ModgateConfig,
  client: UpstreamClient,
  hooks: Pick<RoutingOptions, 'onServed' | 'onQuarantine'> = {},
): MirrorRouting {
  const m = config.mirrors;
  return new MirrorRouting({
    client,
    groups: planGroups(config),
    scoring: { alpha: m.ewmaAlpha, errorPenalty: m.errorPenalty, breaker: m.breaker },
    hedge: m.hedge,
    probe: { intervalMs: m.probeIntervalMs, path: m.probePath },
    quarantineMs: m.quarantineMs,
    ...hooks,
  });
}

/** Every configured upstream URL: the public chain and each route's chain. */
export function configuredUpstreams(config: ModgateConfig): string[] {
  const urls = [
    ...upstreamChain(config.upstream ?? ''),
    ...config.routes.flatMap((r) => upstreamChain(r.upstream)),
  ].map((e) => e.url);
  return [...new Set(urls)];
}

/** The health /readyz reads: each configured upstream probed with a GET of its root. */
export function createUpstreamHealth(
  config: ModgateConfig,
  client: UpstreamClient,
): UpstreamHealth {
  const pins = { ...DEFAULT_PINS, ...config.pins };
  return new UpstreamHealth({
    client,
    upstreams: configuredUpstreams(config),
    path: '/',
    hasPins: (host) => (pinsFor(pins, host)?.length ?? 0) > 0,
  });
}

/** "NAME via URL" for the start-up summary; says so when the database cannot be reached. */
export async function describeSumdb(transport: SumdbTransport | null): Promise<string> {
  if (!transport) return 'off (trust on first use only)';
  try {
    return `${transport.name} via ${redactUrl(await transport.resolve())}`;
  } catch (err) {
    const e = asModgateError(err);
    return `${transport.name} unreachable (${e.code})`;
  }
}
