import type { PolicyFact } from '../contracts.js';
import { ModgateError } from '../errors.js';
import { POLICY_FACTS, isPolicyFact } from './needs.js';
import { parseRange } from './ranges.js';
import { PatternIndex } from './pattern-index.js';
import { checkLicenseData, compileVulnWaivers, type VulnWaiver } from './vulns.js';

/** The policy data document (policies/data.yaml), as the host uses it. */
export interface PolicyData {
  sources?: { allow?: string[]; deny?: string[] };
  banned?: Array<{ module: string; versions: string; reason?: string }>;
  minReleaseAgeHours?: number;
  cooldownExempt?: string[];
  denyRetracted?: boolean;
  pseudoVersions?: 'allow' | 'warn' | 'deny';
  incompatible?: 'allow' | 'warn' | 'deny';
  maxZipBytes?: number;
  /** Facts an operator's own rules read, beyond those the shipped rules' settings imply (src/policy/needs.ts). */
  needsFacts?: PolicyFact[];
  groups?: Record<string, string[]>;
  waivers?: Array<{ module: string; versions: string; reason: string; expires: string }>;
  /** License rules (policies/vulns.rego): SPDX ids allowed and denied, and what an unknown license gets. */
  licenses?: { allow?: string[]; deny?: string[]; unknown?: 'allow' | 'warn' | 'deny' };
  /** Rules on known vulnerabilities (policies/vulns.rego); waivers by id. */
  vulnerabilities?: {
    mode?: 'deny' | 'warn' | 'off';
    minFixed?: boolean;
    hideAffected?: boolean;
    waivers?: Array<{ id: string; reason?: string; expires: string }>;
  };
}

export interface Ban {
  module: string;
  versions: string;
  reason: string;
  test: (v: string) => boolean;
}

export interface Waiver {
  module: string;
  reason: string;
  expires: string;
  expiresEpoch: number;
  test: (v: string) => boolean;
}

/** Data compiled for fast matching: ranges parsed once, expiries as epochs, patterns indexed. */
export interface CompiledData {
  raw: PolicyData;
  allow: string[];
  deny: string[];
  banned: Ban[];
  cooldownExempt: string[];
  groups: Map<string, string[]>;
  waivers: Waiver[];
  /** vulnerabilities.waivers by id. */
  vulnWaivers: Map<string, VulnWaiver>;
  /** The same lists indexed by module pattern, for matching in O(path depth). */
  index: {
    allow: PatternIndex<string>;
    deny: PatternIndex<string>;
    banned: PatternIndex<Ban>;
    waivers: PatternIndex<Waiver>;
    cooldownExempt: PatternIndex<string>;
    groups: Map<string, PatternIndex<string>>;
  };
}

const patterns = (list: string[]): PatternIndex<string> =>
  new PatternIndex(list.map((p) => ({ pattern: p, item: p })));

const RFC3339 = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;

function invalid(message: string): ModgateError {
  return new ModgateError('POLICY_DATA_INVALID', message);
}

/** An RFC 3339 time (a date alone is midnight UTC) as Unix seconds, or NaN. */
function epochOf(v: unknown): number {
  if (v instanceof Date) return Math.floor(v.getTime() / 1000);
  if (typeof v !== 'string' || !RFC3339.test(v)) return NaN;
  return Math.floor(Date.parse(v) / 1000);
}

/**
 * Checks and compiles policy data. A value of the wrong type is an error rather
 * than ignored: in Rego a string threshold or a misspelt mode would silently
 * turn a rule off. Unknown keys are kept (an operator's own rules may use them).
 */
export function compileData(raw: unknown): CompiledData {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid('policy data must be a mapping');
  const d = raw as PolicyData;
  const isMapping = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const list = (v: unknown, what: string): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw invalid(`${what} must be a list of module patterns`);
    return v as string[];
  };
  const entries = (v: unknown, what: string): Array<Record<string, unknown>> => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => !isMapping(x)))
      throw invalid(`${what} must be a list of mappings`);
    return v as Array<Record<string, unknown>>;
  };
  const count = (k: 'minReleaseAgeHours' | 'maxZipBytes'): void => {
    const v = d[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0))
      throw invalid(`${k} must be a number, 0 or more`);
  };
  count('minReleaseAgeHours');
  count('maxZipBytes');
  if (d.denyRetracted !== undefined && typeof d.denyRetracted !== 'boolean')
    throw invalid('denyRetracted must be true or false');
  for (const k of ['pseudoVersions', 'incompatible'] as const) {
    const v = d[k];
    if (v !== undefined && !['allow', 'warn', 'deny'].includes(v as string))
      throw invalid(`${k} must be allow, warn or deny`);
  }
  if (
    d.needsFacts !== undefined &&
    (!Array.isArray(d.needsFacts) || !(d.needsFacts as unknown[]).every(isPolicyFact))
  )
    throw invalid(`needsFacts must be a list of facts: ${POLICY_FACTS.join(', ')}`);
  if (d.sources !== undefined && d.sources !== null && !isMapping(d.sources))
    throw invalid('sources must be a mapping with allow and deny lists');
  if (d.groups !== undefined && d.groups !== null && !isMapping(d.groups))
    throw invalid('groups must map group names to lists of module patterns');
  const compiled: Omit<CompiledData, 'index'> = {
    raw: d,
    allow: list(d.sources?.allow, 'sources.allow'),
    deny: list(d.sources?.deny, 'sources.deny'),
    banned: entries(d.banned, 'banned').map((b, i) => {
      if (typeof b.module !== 'string' || typeof b.versions !== 'string')
        throw invalid(`banned[${i}] needs module and versions`);
      if (b.reason !== undefined && typeof b.reason !== 'string')
        throw invalid(`banned[${i}].reason must be a string`);
      return {
        module: b.module,
        versions: b.versions,
        reason: b.reason ?? 'banned',
        test: parseRange(b.versions),
      };
    }),
    cooldownExempt: list(d.cooldownExempt, 'cooldownExempt'),
    vulnWaivers: compileVulnWaivers(d.vulnerabilities),
    ...(checkLicenseData(d.licenses), {}),
    groups: new Map(Object.entries(d.groups ?? {}).map(([g, p]) => [g, list(p, `groups.${g}`)])),
    waivers: entries(d.waivers, 'waivers').map((w, i) => {
      const expiresEpoch = epochOf(w.expires);
      if (
        typeof w.module !== 'string' ||
        (w.versions !== undefined && typeof w.versions !== 'string') ||
        (w.reason !== undefined && typeof w.reason !== 'string') ||
        !Number.isFinite(expiresEpoch)
      ) {
        throw invalid(`waivers[${i}] needs module, versions, reason and an RFC 3339 expires`);
      }
      return {
        module: w.module,
        reason: (w.reason as string | undefined) ?? '',
        expires: w.expires instanceof Date ? w.expires.toISOString() : String(w.expires),
        expiresEpoch,
        test: parseRange((w.versions as string | undefined) ?? '*'),
      };
    }),
  };
  return {
    ...compiled,
    index: {
      allow: patterns(compiled.allow),
      deny: patterns(compiled.deny),
      banned: new PatternIndex(compiled.banned.map((b) => ({ pattern: b.module, item: b }))),
      waivers: new PatternIndex(compiled.waivers.map((w) => ({ pattern: w.module, item: w }))),
      cooldownExempt: patterns(compiled.cooldownExempt),
      groups: new Map([...compiled.groups].map(([g, list]) => [g, patterns(list)])),
    },
  };
}
