import { ModgateError } from '../errors.js';
import { parseRange } from './ranges.js';
import { PatternIndex } from './pattern-index.js';

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
  groups?: Record<string, string[]>;
  waivers?: Array<{ module: string; versions: string; reason: string; expires: string }>;
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

export function compileData(raw: unknown): CompiledData {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ModgateError('POLICY_DATA_INVALID', 'policy data must be a mapping');
  const d = raw as PolicyData;
  const list = (v: unknown, what: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw new ModgateError('POLICY_DATA_INVALID', `${what} must be a list of patterns`);
    return v as string[];
  };
  const compiled: Omit<CompiledData, 'index'> = {
    raw: d,
    allow: list(d.sources?.allow, 'sources.allow'),
    deny: list(d.sources?.deny, 'sources.deny'),
    banned: (d.banned ?? []).map((b, i) => {
      if (!b || typeof b.module !== 'string' || typeof b.versions !== 'string')
        throw new ModgateError('POLICY_DATA_INVALID', `banned[${i}] needs module and versions`);
      return {
        module: b.module,
        versions: b.versions,
        reason: b.reason ?? 'banned',
        test: parseRange(b.versions),
      };
    }),
    cooldownExempt: list(d.cooldownExempt, 'cooldownExempt'),
    groups: new Map(Object.entries(d.groups ?? {}).map(([g, p]) => [g, list(p, `groups.${g}`)])),
    waivers: (d.waivers ?? []).map((w, i) => {
      const expiresEpoch = Math.floor(Date.parse(String(w?.expires)) / 1000);
      if (!w || typeof w.module !== 'string' || !Number.isFinite(expiresEpoch)) {
        throw new ModgateError(
          'POLICY_DATA_INVALID',
          `waivers[${i}] needs module, versions, reason and an RFC 3339 expires`,
        );
      }
      return {
        module: w.module,
        reason: w.reason ?? '',
        expires: String(w.expires),
        expiresEpoch,
        test: parseRange(w.versions ?? '*'),
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
