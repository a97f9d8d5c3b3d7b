/**
 * Builders used by the composition root (src/main.ts) and by CLI commands:
 * the policy gate and the audit trail of a config, and validateForServe, every
 * check serve makes at start, run before anything is written.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { auditPort } from './audit/port.js';
import { auditDir, auditKeyFile } from './audit/places.js';

export { auditDir, auditKeyFile };
import { loadOrCreateAuditKey, readAuditKey } from './audit/checkpoint.js';
import { AuditLog } from './audit/log.js';
import { FsChainStore } from './audit/fs-store.js';
import { PgChainStore } from './audit/pg-store.js';
import { CheckpointShipper } from './audit/ship.js';
import { createRedactor } from './config/redact.js';
import type pg from 'pg';
import { poolConfig, replicaIdOf } from './state/open.js';
import type { ModgateConfig } from './config/types.js';
import { ModgateError, isModgateError } from './errors.js';
import { createIdentify } from './auth/authenticate.js';
import { parseGoSumdb } from './integrity/sumdb/gosumdb.js';
import { parseVerifierKey } from './integrity/note.js';
import { validatePins } from './tls/pins.js';
import { buildHttpsOptions, type HttpsFileOptions } from './tls/server.js';
import { assertNotSelf } from './upstream/proxy-list.js';
import { createRouter } from './upstream-wiring.js';
import { planGroups } from './routing/plan.js';
import type { AuditPort, ModuleFacts } from './contracts.js';
import type { Metrics } from './observability/metrics.js';
import { PolicyEngine, type ReloadEvent } from './policy/engine.js';
import { RegoGate, type GateOptions } from './policy/gate.js';
import { PolicyPool } from './policy/pool.js';

/** The policies folder shipped with modgate, used when the configured default is absent from the working folder. */
export const BUNDLED_POLICIES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'policies',
);

export function policySource(config: ModgateConfig): { path: string; dataFile?: string } {
  let p = config.policy.path;
  if (p === 'policies' && !existsSync(path.join(p, 'build', 'policy.wasm'))) p = BUNDLED_POLICIES;
  return { path: p, ...(config.policy.dataFile ? { dataFile: config.policy.dataFile } : {}) };
}

export async function createGate(
  config: ModgateConfig,
  logger: Logger,
  opts: {
    listFacts?: GateOptions['listFacts'];
    audit?: AuditPort;
    metrics?: Metrics;
    watch?: boolean;
    /**
     * Evaluate in this thread (one-shot commands that need synchronous
     * evaluation). The default, for the gateway, is a PolicyPool: decisions in
     * worker threads, bounded by policy.budgetMs.
     */
    inProcess?: boolean;
    /** The vulnerability facts of a version (src/vuln/setup.ts vulnFacts). */
    vulns?: (module: string, version: string) => Pick<ModuleFacts, 'vulns' | 'vulndb'>;
  } = {},
): Promise<{ gate: RegoGate; engine: PolicyEngine | PolicyPool }> {
  const onReload = (e: ReloadEvent): void =>
    e.ok
      ? logger.info(
          { policyRevision: e.policyRevision, dataRevision: e.dataRevision },
          'policy reloaded',
        )
      : logger.error(
          { error: e.error },
          'policy reload rejected; keeping the previous policy and data',
        );
  const engine = opts.inProcess
    ? await PolicyEngine.load(policySource(config), onReload)
    : await PolicyPool.load(policySource(config), {
        workers: config.policy.workers,
        budgetMs: config.policy.budgetMs,
        onReload,
        onWorkerLost: (why) => logger.error({ why }, 'policy worker lost; starting a new one'),
      });
  if (opts.watch !== false) engine.watch();
  if (config.policy.mode === 'dry-run')
    logger.warn('policy mode is dry-run: denials are only warnings');
  const gate = new RegoGate(engine, {
    mode: config.policy.mode,
    budgetMs: config.policy.budgetMs,
    ...(opts.listFacts ? { listFacts: opts.listFacts } : {}),
    ...(opts.vulns ? { vulns: opts.vulns } : {}),
    onPolicyError: (req, d) => {
      opts.metrics?.security.inc({ event: 'POLICY_ERROR' });
      logger.error(
        { module: req.module, version: req.version, deny: d.deny },
        'policy engine error: denying',
      );
      void opts.audit
        ?.security({
          event: 'POLICY_ERROR',
          module: req.module,
          ...(req.version ? { version: req.version } : {}),
          details: { deny: d.deny },
        })
        .catch(() => undefined);
    },
  });
  return { gate, engine };
}

/** This replica's chain id in a shared audit database: cluster.replicaId, else the host name. */
export function auditReplica(config: ModgateConfig): string {
  return replicaIdOf(config);
}

/** The audit chain's connection: the same database, URL and password file as state.postgres. */
function pgConnection(config: ModgateConfig): { connection: pg.ClientConfig } {
  const pc = poolConfig(config, auditReplica(config));
  return {
    connection: {
      ...(pc.connectionString ? { connectionString: pc.connectionString } : {}),
      ...(typeof pc.password === 'string' ? { password: pc.password } : {}),
    },
  };
}

export async function createAudit(
  config: ModgateConfig,
  logger: Logger,
  /** A worker process's chain (server.workers): audit.dir is its own folder, named by `replica`. */
  worker?: { replica: string },
): Promise<{ port: AuditPort; log: AuditLog; verifierKey: string }> {
  // Before the key is created: a bad syslog address must not leave a new key behind.
  const syslog = config.audit.syslog ? parseSyslog(config.audit.syslog) : undefined;
  const key = await loadOrCreateAuditKey(auditKeyFile(config));
  if (key.created) {
    logger.warn(
      { verifierKey: key.verifierKey },
      `created the audit signing key; keep its verifier key in config (audit.verifierKey): ${key.verifierKey}`,
    );
  }
  if (config.audit.verifierKey && config.audit.verifierKey !== key.verifierKey) {
    throw new ModgateError(
      'AUDIT_KEY_MISMATCH',
      `the audit key in ${auditKeyFile(config)} does not match audit.verifierKey in the config`,
    );
  }
  const shipper =
    config.audit.shipUrl || config.audit.syslog
      ? new CheckpointShipper({
          ...(config.audit.shipUrl ? { http: { url: config.audit.shipUrl } } : {}),
          ...(syslog ? { syslog } : {}),
          onError: (err) => logger.error({ err }, 'checkpoint shipping failed'),
        })
      : undefined;
  const store =
    config.audit.store === 'postgres'
      ? new PgChainStore({
          ...pgConnection(config),
          replica: auditReplica(config),
          verifierKey: key.verifierKey,
        })
      : worker
        ? new FsChainStore({
            dir: auditDir(config),
            replica: worker.replica,
            now: () => new Date(),
          })
        : undefined;
  const log = await AuditLog.open({
    ...(store ? { store, startDetails: { replica: store.replica } } : { dir: auditDir(config) }),
    key,
    checkpointIntervalSec: config.audit.checkpointSeconds,
    ...(shipper ? { onCheckpoint: (cp) => shipper.enqueue(cp) } : {}),
    onError: (err) => logger.error({ err }, 'audit trail write failed'),
  });
  if (config.audit.retentionDays > 0) {
    const prune = (): void =>
      void log
        .removeExpired({ days: config.audit.retentionDays })
        .catch((err: unknown) => logger.error({ err }, 'audit retention failed'));
    setInterval(prune, 6 * 3600 * 1000).unref();
  }
  const port = auditPort(
    log,
    config.audit.onFailure,
    (err) => logger.error({ err }, 'audit record not written'),
    createRedactor(config),
  );
  return { port, log, verifierKey: key.verifierKey };
}

function parseSyslog(spec: string): { host: string; port: number; protocol: 'udp' | 'tcp' } {
  const m = /^(udp|tcp):\/\/([^:/]+|\[[^\]]+\]):(\d+)$/.exec(spec);
  if (!m)
    throw new ModgateError(
      'CONFIG_INVALID',
      `audit.syslog must look like udp://host:514 or tcp://host:514, got ${spec}`,
    );
  return {
    protocol: m[1] as 'udp' | 'tcp',
    host: m[2]!.replace(/^\[|\]$/g, ''),
    port: Number(m[3]),
  };
}

export function splitHostPort(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  if (!m || Number(m[3]) > 65535)
    throw new ModgateError(
      'CONFIG_INVALID',
      `listen must be HOST:PORT, got ${JSON.stringify(listen)}`,
    );
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

export function httpsFileOptions(config: ModgateConfig): HttpsFileOptions {
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

/** Checks a caller already satisfied with its own parts (tests, the demo) can skip. */
export interface ServeCheckSkips {
  tls?: boolean;
  policy?: boolean;
  audit?: boolean;
  upstreamTls?: boolean;
}

async function auditChecks(config: ModgateConfig): Promise<void> {
  if (config.audit.syslog) parseSyslog(config.audit.syslog);
  if (config.audit.shipUrl && !/^https?:\/\/[^/]/.test(config.audit.shipUrl))
    throw new ModgateError(
      'CONFIG_INVALID',
      `audit.shipUrl must be an http(s) URL, got ${config.audit.shipUrl}`,
    );
  const configured = config.audit.verifierKey;
  if (configured) parseVerifierKey(configured);
  const file = auditKeyFile(config);
  if (!existsSync(file)) {
    // serve would create a new key that cannot match: refuse before creating it.
    if (configured)
      throw new ModgateError(
        'AUDIT_KEY_MISMATCH',
        `audit.verifierKey is set but the audit key ${file} is missing: restore it rather than sign with a new key`,
      );
    return;
  }
  const key = await readAuditKey(file);
  if (configured && configured !== key.verifierKey)
    throw new ModgateError(
      'AUDIT_KEY_MISMATCH',
      `the audit key in ${file} does not match audit.verifierKey in the config`,
    );
}

async function extraCaCheck(file: string): Promise<void> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ModgateError(
      'TLS_FILES_INVALID',
      `cannot read extraCaFile ${file}: ${err.code ?? err.message}`,
    );
  });
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new ModgateError('TLS_FILES_INVALID', `extraCaFile ${file} holds no PEM certificate`);
}

/**
 * Every check serve makes at start, without writing anything (no key, no
 * segment, no folder): `config check` runs it, and serve runs it before it
 * creates anything. All checks run; one failure is thrown as it is, several
 * as one error (the first one's code) listing each.
 */
export async function validateForServe(
  config: ModgateConfig,
  skip: ServeCheckSkips = {},
): Promise<void> {
  const checks: Array<() => unknown> = [
    () => splitHostPort(config.listen),
    () => {
      const router = createRouter(config);
      if (config.publicUrl) assertNotSelf(router.publicUpstreams, [config.publicUrl]);
    },
    () => planGroups(config),
    () => parseGoSumdb(config.sumdb),
    () => Object.values(config.pins).forEach((list) => validatePins(list)),
    () =>
      createIdentify({
        tokens: config.auth.tokens,
        required: config.auth.required,
        mtls: Boolean(config.tls.clientCaFile),
      }),
  ];
  if (!skip.upstreamTls && config.extraCaFile) checks.push(() => extraCaCheck(config.extraCaFile!));
  if (!skip.audit && config.audit.enabled) checks.push(() => auditChecks(config));
  if (!skip.tls && !config.tls.insecureHttp)
    checks.push(() => buildHttpsOptions(httpsFileOptions(config)));
  if (!skip.policy)
    checks.push(async () => (await PolicyEngine.load(policySource(config))).close());
  const errors: ModgateError[] = [];
  for (const check of checks) {
    try {
      await check();
    } catch (err) {
      const e = isModgateError(err)
        ? err
        : new ModgateError('CONFIG_INVALID', (err as Error).message);
      // Two checks may read the same field (the router and the mirror
      // groups both parse the upstream list): name each problem once.
      if (!errors.some((x) => x.code === e.code && x.message === e.message)) errors.push(e);
    }
  }
  const [first] = errors;
  if (!first) return;
  if (errors.length === 1) throw first;
  throw new ModgateError(
    first.code,
    `${errors.length} problems:\n  ${errors.map((e) => `${e.code}: ${e.message}`).join('\n  ')}`,
    { errors: errors.map((e) => ({ code: e.code, message: e.message })) },
  );
}
