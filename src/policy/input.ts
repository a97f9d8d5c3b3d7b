import { isPseudoVersion, pseudoVersionBase } from '../integrity/pseudo.js';
import { build, canonical, major, prerelease } from '../integrity/semver.js';
import type { DecisionRequest } from '../contracts.js';
import type { CompiledData } from './data.js';
import { licensesInput, vulnsInput, type LicensesInput, type VulnInput } from './vulns.js';

/** The input document of policies/input.schema.json. */
export interface PolicyInput {
  request: {
    kind: string;
    time: string;
    epoch: number;
    identity?: { id: string; method: string; groups: string[] };
  };
  module: {
    path: string;
    version?: string;
    major?: string;
    prerelease?: string;
    pseudo?: boolean;
    incompatible?: boolean;
    base?: string;
  };
  match: {
    allowed: boolean;
    deniedBy: string;
    groupAllowed: boolean;
    banned: Array<{ versions: string; reason: string }>;
    waivers: Array<{ reason: string; expires: string; expiresEpoch: number }>;
    cooldownExempt: boolean;
  };
  facts: Record<string, unknown>;
  /** Vulnerability-database entries affecting the version (policies/vulns.rego). */
  vulns: VulnInput[];
  vulndb: { enabled: boolean; loaded: boolean; modified: string };
  /** The Deprecated comment of the module's latest go.mod, or "". */
  deprecated: string;
  /** Licenses of the verified zip (kind zip), against licenses.allow and licenses.deny. */
  licenses: LicensesInput;
}

/**
 * Builds the input for one decision. Everything that needs Go's semantics is
 * computed here: prefix-pattern matches, semver ranges, version facts.
 */
export function buildInput(req: DecisionRequest, data: CompiledData, now: Date): PolicyInput {
  const v = req.version;
  const groups = req.identity.groups.filter((g) => data.groups.has(g));
  const input: PolicyInput = {
    request: {
      kind: req.kind,
      time: now.toISOString(),
      epoch: Math.floor(now.getTime() / 1000),
      identity: { id: req.identity.id, method: req.identity.method, groups: req.identity.groups },
    },
    module: { path: req.module, ...(v ? versionFacts(v) : {}) },
    match: {
      allowed: data.allow.length === 0 || data.index.allow.first(req.module) !== undefined,
      deniedBy: data.index.deny.first(req.module) ?? '',
      groupAllowed:
        groups.length === 0 ||
        groups.some((g) => data.index.groups.get(g)!.first(req.module) !== undefined),
      banned: v
        ? data.index.banned
            .match(req.module)
            .filter((b) => b.test(v))
            .map((b) => ({ versions: b.versions, reason: b.reason }))
        : [],
      waivers: v
        ? data.index.waivers
            .match(req.module)
            .filter((w) => w.test(v))
            .map((w) => ({ reason: w.reason, expires: w.expires, expiresEpoch: w.expiresEpoch }))
        : [],
      cooldownExempt: data.index.cooldownExempt.first(req.module) !== undefined,
    },
    facts: factsOf(req),
    vulns: vulnsInput(req, data.vulnWaivers),
    vulndb: req.facts.vulndb ?? { enabled: false, loaded: false, modified: '' },
    deprecated: req.facts.deprecated ?? '',
    licenses: licensesInput(req, (data.raw as { licenses?: unknown }).licenses),
  };
  return input;
}

function versionFacts(v: string): Omit<PolicyInput['module'], 'path'> {
  const pseudo = isPseudoVersion(v);
  return {
    version: v,
    major: major(v),
    prerelease: prerelease(v),
    pseudo,
    incompatible: build(v) === '+incompatible',
    base: pseudo ? pseudoVersionBase(v) || 'v0.0.0' : canonical(v),
  };
}

/** The facts as the policy sees them (also part of the decision cache's key). */
export function factsOf(req: DecisionRequest): Record<string, unknown> {
  const f = req.facts;
  const out: Record<string, unknown> = {};
  if (f.publishTime) {
    out.publishTime = f.publishTime;
    const t = Date.parse(f.publishTime);
    if (Number.isFinite(t)) out.publishEpoch = Math.floor(t / 1000);
  }
  if (f.retracted !== undefined) out.retracted = f.retracted;
  out.deprecated = f.deprecated ?? '';
  if (f.zipSize !== undefined) out.zipSize = f.zipSize;
  if (f.fileCount !== undefined) out.fileCount = f.fileCount;
  if (f.checksum) out.checksum = f.checksum;
  return out;
}

/** The epoch seconds at which this input's decision could change (waiver expiry, end of cool-down). */
export function nextBoundary(input: PolicyInput, data: CompiledData): number {
  const now = input.request.epoch;
  const candidates = [
    ...input.match.waivers.map((w) => w.expiresEpoch),
    ...input.vulns.flatMap((v) => (v.waiver ? [v.waiver.expiresEpoch] : [])),
  ];
  const hours = data.raw.minReleaseAgeHours ?? 0;
  const pub = input.facts.publishEpoch;
  if (hours > 0 && typeof pub === 'number') candidates.push(pub + hours * 3600);
  const future = candidates.filter((c) => c > now);
  return future.length ? Math.min(...future) : Infinity;
}
