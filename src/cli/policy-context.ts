/**
 * What `modgate policy eval` and `policy check` evaluate with: the gate (the
 * policy and its data), the vulnerability database, and the facts source (a
 * modgate with --gateway, else the upstream serve would use) with the zips'
 * verified licenses.
 */
import pino from 'pino';
import type { ModuleFacts } from '../contracts.js';
import type { ModgateConfig } from '../config/types.js';
import type { RawDecision } from '../policy/engine.js';
import type { RegoGate } from '../policy/gate.js';
import { noAudit } from '../contracts.js';
import { MemoryBlobStore } from '../storage/memory.js';
import { createGate } from '../wiring.js';
import { buildUpstream, createDispatcher, createRouter, setupSumdb } from '../upstream-wiring.js';
import type { VulnService } from '../vuln/service.js';
import { createVulnService, vulnFacts } from '../vuln/setup.js';
import { GatewayFacts } from './facts-client.js';
import { configFrom } from './options.js';
import { ZipLicenses, type ZipLicenseOptions } from './zip-licenses.js';

export interface EvalOpts {
  config?: string;
  policy?: string;
  data?: string;
  gateway?: string;
  offline?: boolean;
  ca?: string;
  token?: string;
  vulndb?: string;
  /** false with --no-licenses: no zip is downloaded. */
  licenses?: boolean;
}

export const ANON = { id: 'cli', method: 'anonymous' as const, groups: [] as string[] };

export interface Context {
  gate: RegoGate;
  facts?: GatewayFacts;
  licenses?: ZipLicenses;
  /** Why no facts are fetched at all (offline, no upstream). */
  noFacts?: string;
  /** Why no license is read (offline, --no-licenses, no source). */
  noLicenses?: string;
  vulnFacts?: (module: string, version: string) => Pick<ModuleFacts, 'vulns' | 'vulndb'>;
  close(): Promise<void>;
}

/** The vulnerability database for one run: --vulndb, else the config's when enabled; synced once. */
async function vulnContext(
  o: EvalOpts,
  config: ModgateConfig,
): Promise<{ service?: VulnService; close(): Promise<void> }> {
  const source = o.vulndb ?? (config.vulndb.enabled ? config.vulndb.source : undefined);
  if (!source) return { close: async () => {} };
  const cfg = { ...config, vulndb: { ...config.vulndb, enabled: true, source } };
  const up = /^https?:\/\//i.test(source)
    ? await buildUpstream(cfg, pino({ level: 'silent' }))
    : undefined;
  const service = createVulnService(cfg, { audit: noAudit, ...(up ? { client: up.client } : {}) });
  try {
    await service.sync();
  } catch (err) {
    await up?.close();
    throw err;
  }
  return { service, close: async () => (await service.close(), await up?.close()) };
}

export async function context(o: EvalOpts): Promise<Context> {
  const config = await configFrom(o, {
    'policy.path': o.policy,
    'policy.dataFile': o.data,
    'policy.mode': 'enforce',
  });
  const vulns = await vulnContext(o, config);
  const { gate, engine } = await createGate(config, pino({ level: 'silent' }), {
    watch: false,
    inProcess: true,
    ...(vulns.service ? { vulns: vulnFacts(vulns.service) } : {}),
  });
  const src = await factsSource(o, config);
  const noLicenses = o.licenses === false ? '--no-licenses' : src.facts ? undefined : src.noFacts;
  const licenses =
    src.facts && o.licenses !== false
      ? new ZipLicenses({
          source: src.facts,
          verifiedSource: Boolean(o.gateway),
          maxZipBytes: config.limits.zipBytes,
          ...(src.sumdb ? { sumdb: src.sumdb } : {}),
        })
      : undefined;
  return {
    gate,
    ...src,
    ...(licenses ? { licenses } : {}),
    ...(noLicenses ? { noLicenses } : {}),
    ...(vulns.service ? { vulnFacts: vulnFacts(vulns.service) } : {}),
    close: async () => (
      engine.close(),
      await licenses?.close(),
      await src.facts?.close(),
      await src.dispatcher?.close(),
      await src.upstream?.close(),
      await vulns.close()
    ),
  };
}

interface Source {
  facts?: GatewayFacts;
  noFacts?: string;
  dispatcher?: { close(): Promise<void> };
  upstream?: { close(): Promise<void> };
  sumdb?: ZipLicenseOptions['sumdb'];
}

/**
 * Facts come from --gateway (a modgate, trusted with --ca), else from the
 * config's first http(s) upstream (GOPROXY, `go env GOPROXY`, the config file),
 * reached as serve reaches it: through the pinned dispatcher. Without a
 * gateway, zips are checked against the checksum database, as serve does.
 */
async function factsSource(o: EvalOpts, config: ModgateConfig): Promise<Source> {
  if (o.offline) return { noFacts: 'offline (--offline)' };
  if (o.gateway) {
    const token = o.token ?? process.env.MODGATE_TOKEN;
    return {
      facts: new GatewayFacts(o.gateway.replace(/\/+$/, ''), {
        ...(o.ca ? { ca: o.ca } : {}),
        ...(token ? { token } : {}),
      }),
    };
  }
  const router = createRouter(config);
  const first = router.publicUpstreams.find((e) => /^https?:\/\//.test(e.url));
  if (!first)
    return {
      noFacts:
        'no upstream to ask: GOPROXY (environment or go env), upstream in the config and --gateway name no http(s) proxy',
    };
  const logger = pino({ level: 'silent' });
  const dispatcher = await createDispatcher(config, logger);
  const facts = new GatewayFacts(first.url.replace(/\/+$/, ''), {
    dispatcher,
    ...(o.token ? { token: o.token } : {}),
  });
  const upstream = await buildUpstream(config, logger);
  const db = setupSumdb(config, upstream.client, router, new MemoryBlobStore(), logger).client;
  return {
    facts,
    dispatcher,
    upstream,
    ...(db
      ? {
          sumdb: {
            name: db.name,
            skips: (m: string) => router.skipsSumdb(m),
            lookup: async (m: string, v: string) => (await db.lookup(m, v)).lines,
          },
        }
      : {}),
  };
}

const COOLDOWN_GAP = 'publish time (cool-down)';

/** Whether the policy data has license rules, which then need each zip's licenses. */
function licenseRules(raw: ReturnType<RegoGate['engineData']>): boolean {
  const l = raw.licenses;
  return Boolean(l?.allow?.length || l?.deny?.length || (l?.unknown && l.unknown !== 'allow'));
}

export interface Evaluated {
  decision: RawDecision;
  facts: ModuleFacts;
  /** Why the licenses are not known, when they are not. */
  licenseNote?: string;
}

/** Evaluates one module version; missing facts that a rule needs deny with FACT_UNAVAILABLE. */
export async function decide(
  ctx: Context,
  module: string,
  version: string,
  kind: 'zip' | 'mod' | 'info' | 'list',
  goSumH1?: string,
): Promise<Evaluated> {
  let f: ModuleFacts = {};
  const unavailable: string[] = [];
  const deny0: Array<{ code: string; message: string }> = [];
  if (ctx.facts) f = await ctx.facts.forVersion(module, version);
  let licenseNote: string | undefined = kind === 'zip' ? ctx.noLicenses : undefined;
  if (kind === 'zip' && ctx.licenses) {
    const l = await ctx.licenses.forVersion(module, version, goSumH1);
    if (l.licenses) f.licenses = l.licenses;
    if (l.mismatch) deny0.push({ code: 'CHECKSUM_MISMATCH', message: l.mismatch });
    licenseNote = l.mismatch ? 'the zip did not match its hash' : l.unavailable;
  }
  const d = ctx.gate.evaluate({ kind, module, version, identity: ANON, facts: f });
  const raw = ctx.gate.engineData();
  if ((kind === 'zip' || kind === 'list') && (raw.minReleaseAgeHours ?? 0) > 0 && !f.publishTime)
    unavailable.push(COOLDOWN_GAP);
  if ((kind === 'zip' || kind === 'list') && raw.denyRetracted && f.retracted === undefined)
    unavailable.push('retraction');
  if (kind === 'zip' && !f.licenses && licenseRules(raw)) unavailable.push('license');
  const deny = [
    ...deny0,
    // The policy's own PUBLISH_TIME_UNKNOWN and RETRACTION_UNKNOWN say what the gaps below say.
    ...d.deny.filter(
      (r) =>
        !(r.code === 'PUBLISH_TIME_UNKNOWN' && unavailable.includes(COOLDOWN_GAP)) &&
        !(r.code === 'RETRACTION_UNKNOWN' && unavailable.includes('retraction')),
    ),
    ...unavailable.map((what) => ({
      code: 'FACT_UNAVAILABLE',
      message: `${module}@${version}: ${what} unknown`,
    })),
  ];
  return {
    decision: { allow: deny.length === 0, deny, warn: d.warn },
    facts: f,
    ...(licenseNote && !f.licenses ? { licenseNote } : {}),
  };
}
