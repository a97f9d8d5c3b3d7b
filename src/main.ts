/**
 * The composition root: the only place that knows every part. It reads the
 * effective config and plugs storage, upstream, integrity, policy and audit
 * into the fetch flow and the HTTP server.
 */
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import type { ModgateConfig } from './config/types.js';
import { ModgateError } from './errors.js';
import { ArtifactService } from './goproxy/artifacts.js';
import { FactsService } from './goproxy/facts.js';
import { createAudit, createGate } from './wiring.js';
import {
  createDispatcher,
  createRouter,
  createUpstreamClient,
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
import { StoreTofuLedger } from './integrity/tofu-store.js';
import { Metrics } from './observability/metrics.js';
import { buildServer } from './http/app.js';
import { FsBlobStore } from './storage/fs.js';
import { assertNotSelf } from './upstream/proxy-list.js';
import type { Dispatcher } from 'undici';
import { createIdentify } from './auth/authenticate.js';
import {
  buildHttpsOptions,
  CertReloader,
  type HttpsFileOptions,
  type ReloadableServer,
} from './tls/server.js';

export interface GatewayParts {
  /** Overrides for tests and the demo. */
  dispatcher?: Dispatcher & { close(): Promise<void> };
  sumdb?: SumdbLookup | null;
  gate?: PolicyGate;
  audit?: AuditPort;
  identify?: (req: FastifyRequest) => Identity;
  https?: Record<string, unknown>;
  logger?: Logger;
}

export interface Gateway {
  app: FastifyInstance;
  url: string;
  metrics: Metrics;
  store: FsBlobStore;
  close(): Promise<void>;
}

export async function startGateway(
  config: ModgateConfig,
  parts: GatewayParts = {},
): Promise<Gateway> {
  const logger =
    parts.logger ??
    pino({
      level: config.log.level,
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', '*.password', '*.token'],
        censor: '[redacted]',
      },
    });
  const metrics = new Metrics();
  const store = new FsBlobStore(path.join(config.dataDir, 'store'));
  const router = createRouter(config);
  if (router.publicUpstreams.length === 0) {
    logger.warn(
      'no public upstream: set GOPROXY, upstream in the config, or --upstream (modules outside private routes get 404)',
    );
  }
  const trail =
    parts.audit || !config.audit.enabled ? undefined : await createAudit(config, logger);
  if (!config.audit.enabled && !parts.audit)
    logger.warn('the audit trail is disabled (audit.enabled: false)');
  const audit = parts.audit ?? trail?.port ?? noAudit;
  const dispatcher = parts.dispatcher ?? (await createDispatcher(config, logger, metrics, audit));
  const client = createUpstreamClient(config, dispatcher, metrics);
  const db = setupSumdb(config, client, router, store, logger);
  const checksums = new ChecksumVerifier({
    sumdb: parts.sumdb !== undefined ? parts.sumdb : db.client,
    tofu: new StoreTofuLedger(store),
    isPrivate: (m) => router.skipsSumdb(m),
  });
  const artifacts = new ArtifactService({
    store,
    client,
    router,
    checksums,
    limits: config.limits,
    memory: { bytes: config.cache.memoryBytes, maxItemBytes: config.cache.memoryMaxItemBytes },
    onSecurity: async (event, details) => {
      metrics.security.inc({ event });
      logger.error({ event, ...details }, 'security event');
      await audit.security({ event, details });
    },
  });
  metrics.inflightSource = () => artifacts.inflight;
  const metadata = new MetadataService({
    store,
    client,
    router,
    ttlSeconds: { list: config.cache.listTtlSeconds, query: config.cache.queryTtlSeconds },
    maxBytes: { list: config.limits.listBytes, info: config.limits.infoBytes },
  });
  const facts = new FactsService(artifacts, metadata, config.cache.listTtlSeconds * 1000);
  const policy = parts.gate
    ? undefined
    : await createGate(config, logger, {
        listFacts: (m, v) => facts.forList(m, v),
        audit,
        metrics,
      });
  const gate = parts.gate ?? policy?.gate ?? allowAllGate;
  const flow = new GatewayFlow({ artifacts, metadata, facts, gate, audit });
  const identify =
    parts.identify ??
    createIdentify({
      tokens: config.auth.tokens,
      required: config.auth.required,
      mtls: Boolean(config.tls.clientCaFile),
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
        checks.storage = (err as Error).message;
      }
      checks.audit = audit.healthy() ? 'ok' : 'unwritable';
      const ok = checks.storage === 'ok' && checks.audit === 'ok';
      const ago = metrics.lastUpstreamOk
        ? Math.round((Date.now() - metrics.lastUpstreamOk) / 1000)
        : -1;
      checks.upstream =
        ago >= 0 && ago < 300 ? 'ok' : 'no answer in the last 5 minutes: serving from cache';
      return { ok, checks };
    },
    ...(https ? { https: https as unknown as Record<string, unknown> } : {}),
    ...(db.proxy ? { sumdb: db.proxy.handler } : {}),
  });
  const { host, port } = splitHostPort(config.listen);
  const address = await app
    .listen({ host, port, backlog: 4096 })
    .catch((err: NodeJS.ErrnoException) => {
      throw new ModgateError(
        'LISTEN_FAILED',
        `cannot listen on ${config.listen}: ${err.code ?? err.message}`,
      );
    });
  const url = https ? address.replace(/^http:/, 'https:') : address;
  const reloader = https && !parts.https ? startReloader(app, config, logger) : undefined;
  try {
    assertNotSelf(router.publicUpstreams, [url, ...(config.publicUrl ? [config.publicUrl] : [])]);
  } catch (err) {
    await app.close();
    throw err;
  }
  logger.info({ url }, `modgate listening on ${url}`);
  return {
    app,
    url,
    metrics,
    store,
    close: async () => {
      reloader?.stop();
      await policy?.engine.close();
      await app.close();
      await trail?.log.close();
      await dispatcher.close().catch(() => undefined);
    },
  };
}

function httpsFileOptions(config: ModgateConfig): HttpsFileOptions {
  return {
    certFile: config.tls.certFile,
    keyFile: config.tls.keyFile,
    ...(config.tls.clientCaFile
      ? {
          caFile: config.tls.clientCaFile,
          requestCert: true,
          requireClientCert: config.tls.requireClientCert,
        }
      : {}),
  };
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

export function splitHostPort(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  if (!m)
    throw new ModgateError(
      'CONFIG_INVALID',
      `listen must be HOST:PORT, got ${JSON.stringify(listen)}`,
    );
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}
