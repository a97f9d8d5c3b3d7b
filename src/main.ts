/**
 * The composition root: the only place that knows every part. It reads the
 * effective config and plugs storage, upstream, integrity, policy and audit
 * into the fetch flow and the HTTP server.
 */
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { ModgateConfig } from './config/types.js';
import { ModgateError } from './errors.js';
import { ArtifactService } from './goproxy/artifacts.js';
import { FactsService } from './goproxy/facts.js';
import { CONSOLE_ROLES, registerConsole, TrailReader } from './console/index.js';
import { consoleStatus } from './console-status.js';
import { modgateVersion } from './cli/version.js';
import {
  auditDir,
  createAudit,
  createGate,
  httpsFileOptions,
  splitHostPort,
  validateForServe,
} from './wiring.js';
import {
  buildUpstream,
  createMirrorRouting,
  createRouter,
  createUpstreamHealth,
  describeSumdb,
  setupSumdb,
} from './upstream-wiring.js';
import { GatewayFlow } from './goproxy/flow.js';
import { MetadataService } from './goproxy/metadata.js';
import {
  allowAllGate,
  noAudit,
  type AuditPort,
  type Identity,
  type PolicyGate,
} from './contracts.js';
import { ChecksumVerifier, type SumdbLookup } from './integrity/checksums.js';
import { StateTofuLedger } from './integrity/tofu-store.js';
import { openState, replicaIdOf, stateParts, stateReadiness } from './state-wiring.js';
import type { LocalCoordination } from './state/coordinator.js';
import type { MirrorRouting } from './routing/routing.js';
import { createVcsSources } from './vcs/index.js';
import { FetchCap } from './goproxy/fetch-cap.js';
import { StateSealer } from './storage/sealed.js';
import { createVulnService, vulnFacts } from './vuln/setup.js';
import type { VulnService } from './vuln/service.js';
import { removeStaleTemps } from './storage/atomic.js';
import { lockDataDir } from './storage/data-lock.js';
import { Metrics } from './observability/metrics.js';
import { buildServer } from './http/app.js';
import { trackDecisions } from './http/request-state.js';
import { createRedactor } from './config/redact.js';
import { openBlobStore } from './storage/open.js';
import type { BlobStore } from './storage/types.js';
import { rm } from 'node:fs/promises';
import { assertNotSelf } from './upstream/proxy-list.js';
import type { Dispatcher } from 'undici';
import type { AddressPolicy } from './upstream/redirects.js';
import { summaryLine, type UpstreamHealth } from './upstream/probe.js';
import type { SumdbTransport } from './upstream/sumdb-transport.js';
import { createIdentify } from './auth/authenticate.js';
import { buildHttpsOptions, CertReloader, type ReloadableServer } from './tls/server.js';

export interface GatewayParts {
  /** Overrides for tests and the demo. */
  dispatcher?: Dispatcher & { close(): Promise<void> };
  sumdb?: SumdbLookup | null;
  gate?: PolicyGate;
  audit?: AuditPort;
  identify?: (req: FastifyRequest) => Identity;
  https?: Record<string, unknown>;
  logger?: Logger;
  /** Replaces DNS and the private-address rule for redirects (tests on loopback). */
  addresses?: AddressPolicy;
  /** Where modgate's own logger writes (default stdout); ignored with `logger`. */
  logStream?: DestinationStream;
  /** Set in a worker process of server.workers (src/workers/worker.ts). */
  worker?: WorkerRole;
  /**
   * false: the app is built and ready but listens on no socket (`modgate
   * import` drives it with inject()); `url` is then empty.
   */
  listen?: boolean;
}

/** What a worker process does differently from a lone one. */
export interface WorkerRole {
  /** 1..N, stable across restarts: names its scratch folders. */
  slot: number;
  /** The primary arbitrates leases and tree heads of the local state. */
  coordinator?: LocalCoordination;
  /** Whether this worker logs the start-up summary (one of them does, once). */
  announce: boolean;
}

/** modgate's logger: the config's level, secrets redacted from every line. */
export function createLogger(config: ModgateConfig, stream?: DestinationStream): Logger {
  const redact = createRedactor(config);
  return pino(
    {
      level: config.log.level,
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', '*.password', '*.token'],
        censor: '[redacted]',
      },
      // Every line, whatever put a secret in it (an error text, a URL), is scrubbed last.
      hooks: { streamWrite: redact },
    },
    stream,
  );
}

export interface Gateway {
  app: FastifyInstance;
  url: string;
  metrics: Metrics;
  store: BlobStore;
  /** The cold-fetch cap (running and waiting downloads), for saturation gauges and tests. */
  coldFetches: FetchCap;
  /** Settles once every upstream was probed and the start-up summary logged. */
  probed: Promise<void>;
  /** Settles once the background work started so far (fact prefetches, cache fills, local copies) is done. */
  settled(): Promise<void>;
  /** The vulnerability database service (vulndb.enabled). */
  vulndb?: VulnService;
  /** Adaptive routing among equivalent mirrors (no groups: every chain in fixed order). */
  routing: MirrorRouting;
  close(): Promise<void>;
}

export async function startGateway(
  config: ModgateConfig,
  parts: GatewayParts = {},
): Promise<Gateway> {
  // Everything is checked before anything is written (key, segment, folders, the lock).
  await validateForServe(config, {
    tls: Boolean(parts.https),
    policy: Boolean(parts.gate),
    audit: Boolean(parts.audit),
    upstreamTls: Boolean(parts.dispatcher),
  });
  // A worker's primary holds the data folder's lock for all of its workers.
  const lock = parts.worker ? undefined : await lockDataDir(config.dataDir, 'serve');
  try {
    const gw = await startUnlocked(config, parts);
    return { ...gw, close: async () => (await gw.close(), await lock?.release()) };
  } catch (err) {
    await lock?.release();
    throw err;
  }
}

async function startUnlocked(config: ModgateConfig, parts: GatewayParts): Promise<Gateway> {
  const redact = createRedactor(config);
  const logger = parts.logger ?? createLogger(config, parts.logStream);
  const worker = parts.worker;
  const metrics = new Metrics();
  // What a crash left half-written goes before anything reads or writes.
  // A worker clears only its own scratch space: the others' is in use (the primary cleared the rest).
  const scratch = worker ? `w${worker.slot}` : undefined;
  const { store, location } = await openBlobStore(config, {}, scratch);
  const spoolDir = path.join(config.dataDir, 'spool', ...(scratch ? [scratch] : []));
  await rm(spoolDir, { recursive: true, force: true });
  if (!worker) await removeStaleTemps(config.dataDir, ['store', 's3-cache']);
  const sealer = await StateSealer.loadOrCreate(path.join(config.dataDir, 'keys', 'state.key'));
  const state = await openState(config, logger, worker?.coordinator);
  if (
    config.console.enabled &&
    (parts.audit || !config.audit.enabled || config.audit.store !== 'fs')
  )
    throw new ModgateError(
      'CONFIG_INVALID',
      "console.enabled needs the gateway's own audit trail in a folder (audit.enabled: true, audit.store: fs)",
    );
  const trail =
    parts.audit || !config.audit.enabled
      ? undefined
      : await createAudit(
          config,
          logger,
          worker && config.audit.store === 'fs' ? { replica: replicaIdOf(config) } : undefined,
        );
  if (!config.audit.enabled && !parts.audit)
    logger.warn('the audit trail is disabled (audit.enabled: false)');
  // The HTTP layer audits every answer that no decision record of the flow covers.
  const audit = trackDecisions(parts.audit ?? trail?.port ?? noAudit);
  const upstream = await buildUpstream(config, logger, {
    metrics,
    audit,
    ...(parts.dispatcher ? { dispatcher: parts.dispatcher } : {}),
    ...(parts.addresses ? { addresses: parts.addresses } : {}),
  });
  const client = upstream.client;
  const routing = createMirrorRouting(config, client, {
    onServed: (group, upstream, hedged) =>
      metrics.mirrorServed.inc({ group, upstream, hedged: String(hedged) }),
    onQuarantine: async (details) => {
      metrics.security.inc({ event: 'MIRROR_QUARANTINED' });
      logger.error({ event: 'MIRROR_QUARANTINED', ...details }, 'mirror quarantined');
      await audit.security({ event: 'MIRROR_QUARANTINED', details: { ...details } });
    },
  });
  metrics.mirrorSource = () => routing.snapshot();
  const router = createRouter(
    config,
    await createVcsSources(config, scratch ? { scratch } : {}),
    routing,
  );
  if (router.publicUpstreams.length === 0) {
    logger.warn(
      'no public upstream: set GOPROXY, upstream in the config, or --upstream (modules outside private routes get 404)',
    );
  }
  const db = setupSumdb(
    config,
    client,
    router,
    store,
    logger,
    {
      onSecurity: (event, details) => {
        metrics.security.inc({ event });
        logger.error({ event, ...details }, 'security event');
        void audit.security({ event, details }).catch(() => undefined);
      },
      onVerified: (seconds) => metrics.observeVerification('sumdb', seconds),
    },
    state,
  );
  await db.client?.checkStoredHead().catch(async (err: unknown) => {
    await trail?.log.close();
    await upstream.close().catch(() => undefined);
    await state.close().catch(() => undefined);
    await router.close();
    throw err;
  });
  const checksums = new ChecksumVerifier({
    sumdb: parts.sumdb !== undefined ? parts.sumdb : db.client,
    tofu: new StateTofuLedger(state, sealer),
    isPrivate: (m) => router.skipsSumdb(m),
  });
  const cap = new FetchCap({
    concurrent: config.limits.coldFetches,
    queue: config.limits.coldFetchQueue,
    retryAfterSeconds: 1,
  });
  const artifacts = new ArtifactService({
    store,
    spoolDir,
    client,
    router,
    checksums,
    sealer,
    cap,
    limits: config.limits,
    memory: { bytes: config.cache.memoryBytes, maxItemBytes: config.cache.memoryMaxItemBytes },
    ...stateParts(config, state, logger, Boolean(worker)),
    onTampered: (upstream, details) => routing.tampered(upstream, details),
    onSecurity: async (event, details) => {
      metrics.security.inc({ event });
      logger.error({ event, ...details }, 'security event');
      await audit.security({ event, details });
    },
  });
  metrics.inflightSource = () => artifacts.inflight;
  metrics.queueSource = () => cap.waiting;
  if (trail) metrics.auditSource = () => trail.log.stats;
  const metadata = new MetadataService({
    store,
    client,
    router,
    ttlSeconds: { list: config.cache.listTtlSeconds, query: config.cache.queryTtlSeconds },
    maxBytes: { list: config.limits.listBytes, info: config.limits.infoBytes },
    deadlineMs: config.http.deadlineMs * (config.http.retries + 2),
  });
  const health = createUpstreamHealth(config, client);
  const facts = new FactsService(artifacts, metadata, {
    ttlMs: config.cache.listTtlSeconds * 1000,
    listConcurrency: config.limits.factsConcurrency,
    tasks: artifacts.tasks,
  });
  const vulndb = config.vulndb.enabled
    ? createVulnService(config, {
        client,
        sealer,
        audit,
        logger,
        onAlarm: (code) => metrics.security.inc({ event: code }),
      })
    : undefined;
  await vulndb?.open();
  vulndb?.schedule(config.vulndb.syncMinutes * 60_000);
  const policy = parts.gate
    ? undefined
    : await createGate(config, logger, {
        listFacts: (m, v, needs) => facts.forList(m, v, needs),
        ...(vulndb ? { vulns: vulnFacts(vulndb) } : {}),
        audit,
        metrics,
      });
  const gate = parts.gate ?? policy?.gate ?? allowAllGate;
  const flow = new GatewayFlow({
    artifacts,
    metadata,
    facts,
    gate,
    audit,
    budget: {
      upstreamFetches: config.limits.upstreamFetchesPerRequest,
      ms: config.limits.requestFactsMs,
    },
  });
  const identify =
    parts.identify ??
    createIdentify({
      tokens: config.auth.tokens,
      required: config.auth.required,
      mtls: Boolean(config.tls.clientCaFile),
      subjectRoles: Object.fromEntries(config.auth.subjects.map((s) => [s.cn, [...s.roles]])),
    });
  const https =
    parts.https ??
    (config.tls.insecureHttp ? undefined : await buildHttpsOptions(httpsFileOptions(config)));
  if (!https)
    logger.warn(
      'serving plain HTTP (tls.insecureHttp): module traffic and tokens travel unencrypted',
    );
  const app = buildServer({
    logger,
    metrics,
    flow,
    store,
    audit,
    identify,
    cacheSeconds: { list: config.cache.listTtlSeconds },
    protectHealth: config.auth.protectHealth,
    ready: async () => {
      const checks: Record<string, string> = {};
      try {
        await store.check();
        checks.storage = 'ok';
      } catch (err) {
        checks.storage = `${store.engine} is down: ${(err as Error).message}`;
      }
      checks.audit = audit.healthy() ? 'ok' : 'unwritable';
      const shared = await stateReadiness(config, state);
      checks.state = shared.line;
      const up = await health.check();
      checks.upstreams = up.ok ? up.detail : `every upstream fails: ${up.detail}`;
      if (routing.groups.length) checks.mirrors = routing.describe();
      const ok = checks.storage === 'ok' && checks.audit === 'ok' && shared.ok && up.ok;
      const ago = metrics.lastUpstreamOk
        ? Math.round((Date.now() - metrics.lastUpstreamOk) / 1000)
        : -1;
      checks.upstream =
        ago >= 0 && ago < 300 ? 'ok' : 'no answer in the last 5 minutes: serving from cache';
      return { ok, checks };
    },
    ...(https ? { https: https as unknown as Record<string, unknown> } : {}),
    ...(db.relay
      ? { sumdb: { relays: [db.relay], latestTtlSeconds: config.cache.sumdbLatestTtlSeconds } }
      : {}),
    ...(vulndb ? { vulndb } : {}),
    requestDeadlineMs: config.server.requestDeadlineMs,
    auditBurst: config.audit.accessBurst,
    redact,
    ...(config.console.enabled ? { consoleRoles: CONSOLE_ROLES } : {}),
  });
  if (config.console.enabled && trail) {
    await registerConsole(app, {
      trail: new TrailReader(auditDir(config)),
      verifierKey: trail.verifierKey,
      toolVersion: modgateVersion(),
      status: () =>
        consoleStatus({ metrics, health, routing, vulndb, sumdb: db.client ?? undefined }),
    });
  }
  const { host, port } = splitHostPort(config.listen);
  const address =
    parts.listen === false
      ? await app.ready().then(() => '')
      : await app.listen({ host, port, backlog: 4096 }).catch((err: NodeJS.ErrnoException) => {
          throw new ModgateError(
            'LISTEN_FAILED',
            `cannot listen on ${config.listen}: ${err.code ?? err.message}`,
          );
        });
  const url = https ? address.replace(/^http:/, 'https:') : address;
  const reloader = https && !parts.https ? startReloader(app, config, logger) : undefined;
  try {
    assertNotSelf(router.publicUpstreams, [
      ...(url ? [url] : []),
      ...(config.publicUrl ? [config.publicUrl] : []),
    ]);
  } catch (err) {
    await app.close();
    await router.close();
    await state.close().catch(() => undefined);
    throw err;
  }
  const probed = announce(logger, health, worker ? worker.announce : true, {
    url,
    transport: db.transport,
    policyRevision: policy?.engine.policyRevision ?? (parts.gate ? 'supplied' : 'none (allow all)'),
    storage: `${store.engine} ${location}`,
  }).catch((err: unknown) => logger.error({ err }, 'start-up probe failed'));
  // The mirrors are measured once before traffic, then every probeIntervalMs.
  const measured = routing.start().probeAll();
  return {
    app,
    url,
    routing,
    metrics,
    store,
    coldFetches: cap,
    probed: Promise.all([probed, measured]).then(() => undefined),
    settled: async () => {
      await artifacts.tasks.idle();
      await store.settled?.();
    },
    ...(vulndb ? { vulndb } : {}),
    close: async () => {
      reloader?.stop();
      const closing = app.close();
      // Upstream work and background tasks (downloads, prefetches, fsyncs) are aborted and
      // awaited first, so that nothing waits on them and nothing writes after close.
      await Promise.all([
        routing.close(),
        upstream.close(),
        metadata.close(),
        flow.close(),
        vulndb?.close(),
      ]);
      await router.close();
      await closing;
      // After the requests: one still in flight may be waiting for its decision.
      await policy?.engine.close();
      await trail?.log.close();
      await state.close();
      await store.close?.();
    },
  };
}

/** Probes each upstream once and logs the one line that says modgate serves. */
async function announce(
  logger: Logger,
  health: UpstreamHealth,
  loud: boolean,
  s: { url: string; transport: SumdbTransport | null; policyRevision: string; storage: string },
): Promise<void> {
  const [upstreams, sumdb] = await Promise.all([health.probe(), describeSumdb(s.transport)]);
  const summary = { ...s, transport: undefined, upstreams, sumdb };
  const failing = upstreams.length > 0 && upstreams.every((u) => !u.ok);
  // Of several worker processes one says it: the others probe for /readyz and log at debug.
  logger[!loud ? 'debug' : failing ? 'error' : 'info'](summary, summaryLine(summary));
}

function startReloader(app: FastifyInstance, config: ModgateConfig, logger: Logger): CertReloader {
  const reloader = new CertReloader(
    app.server as unknown as ReloadableServer,
    httpsFileOptions(config),
  );
  reloader.on('reload', (e) =>
    e.kind === 'reloaded'
      ? logger.info(e, 'TLS certificate reloaded')
      : logger.error(e, 'TLS certificate reload rejected; keeping the old one'),
  );
  return reloader.start();
}

export { splitHostPort } from './wiring.js';
