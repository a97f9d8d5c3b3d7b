/**
 * The vulnerability part of the policy input: the entries affecting the
 * version (from src/vuln's index, carried in the facts) with any waiver by id
 * from the data's `vulnerabilities.waivers`, expiry as Unix seconds.
 */
import type { DecisionRequest } from '../contracts.js';
import { expressionAllowed } from '../license/scan.js';
import { ModgateError } from '../errors.js';

export interface VulnWaiver {
  id: string;
  reason: string;
  expires: string;
  expiresEpoch: number;
}

export interface VulnInput {
  id: string;
  aliases: string[];
  summary: string;
  fixed: string;
  withdrawn: boolean;
  waiver?: { reason: string; expires: string; expiresEpoch: number };
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;

/** Checks `vulnerabilities.waivers` (id, reason, expires) and indexes them by id. */
export function compileVulnWaivers(section: unknown): Map<string, VulnWaiver> {
  const out = new Map<string, VulnWaiver>();
  if (section === undefined || section === null) return out;
  if (typeof section !== 'object' || Array.isArray(section))
    throw new ModgateError('POLICY_DATA_INVALID', 'vulnerabilities must be a mapping');
  const list = (section as { waivers?: unknown }).waivers ?? [];
  if (!Array.isArray(list))
    throw new ModgateError('POLICY_DATA_INVALID', 'vulnerabilities.waivers must be a list');
  list.forEach((w: unknown, i) => {
    const o = (w ?? {}) as Record<string, unknown>;
    const expires = o.expires instanceof Date ? o.expires.toISOString() : o.expires;
    if (
      typeof o.id !== 'string' ||
      (o.reason !== undefined && typeof o.reason !== 'string') ||
      typeof expires !== 'string' ||
      !RFC3339.test(expires)
    )
      throw new ModgateError(
        'POLICY_DATA_INVALID',
        `vulnerabilities.waivers[${i}] needs an id (GO-…, CVE-… or GHSA-…), a reason and an RFC 3339 expires`,
      );
    out.set(o.id, {
      id: o.id,
      reason: (o.reason as string | undefined) ?? '',
      expires,
      expiresEpoch: Math.floor(Date.parse(expires) / 1000),
    });
  });
  return out;
}

/** input.vulns: each entry with its waiver (matched by id or by any alias). */
export function vulnsInput(req: DecisionRequest, waivers: Map<string, VulnWaiver>): VulnInput[] {
  return (req.facts.vulns ?? []).map((v) => {
    const w = waivers.get(v.id) ?? v.aliases.map((a) => waivers.get(a)).find((x) => x);
    return {
      id: v.id,
      aliases: v.aliases,
      summary: v.summary,
      fixed: v.fixed,
      withdrawn: v.withdrawn !== '',
      ...(w
        ? { waiver: { reason: w.reason, expires: w.expires, expiresEpoch: w.expiresEpoch } }
        : {}),
    };
  });
}

export interface LicensesInput {
  /** false when the zip was not scanned (other kinds, or evidence from before license scanning). */
  scanned: boolean;
  expression: string;
  unknown: boolean;
  ids: string[];
  files: Array<{ path: string; spdx: string }>;
  /** licenses.allow is set and the expression satisfies it (spdx-satisfies). */
  allowed: boolean;
  /** The ids found that licenses.deny names. */
  denied: string[];
}

/** input.licenses: the zip's licenses checked against licenses.allow and licenses.deny. */
export function licensesInput(req: DecisionRequest, section: unknown): LicensesInput {
  const l = req.facts.licenses;
  const cfg = (section ?? {}) as { allow?: unknown; deny?: unknown };
  const strings = (v: unknown, what: string): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw new ModgateError('POLICY_DATA_INVALID', `licenses.${what} must be a list of SPDX ids`);
    return v as string[];
  };
  const allow = strings(cfg.allow, 'allow');
  const deny = new Set(strings(cfg.deny, 'deny'));
  if (!l)
    return {
      scanned: false,
      expression: '',
      unknown: false,
      ids: [],
      files: [],
      allowed: true,
      denied: [],
    };
  const ids = [...new Set(l.files.map((f) => f.spdx).filter((x) => x))].sort();
  return {
    scanned: true,
    expression: l.expression,
    unknown: l.unknown,
    ids,
    files: l.files.map((f) => ({ path: f.path, spdx: f.spdx })),
    allowed: allow.length === 0 || expressionAllowed(l.expression, allow),
    denied: ids.filter((id) => deny.has(id)),
  };
}

/** Checks the licenses section of the policy data when it is loaded. */
export function checkLicenseData(section: unknown): void {
  if (section === undefined || section === null) return;
  if (typeof section !== 'object' || Array.isArray(section))
    throw new ModgateError('POLICY_DATA_INVALID', 'licenses must be a mapping');
  const u = (section as { unknown?: unknown }).unknown;
  if (u !== undefined && !['allow', 'warn', 'deny'].includes(u as string))
    throw new ModgateError('POLICY_DATA_INVALID', 'licenses.unknown must be allow, warn or deny');
  licensesInput(
    { kind: 'zip', module: '', identity: { id: '', method: 'anonymous', groups: [] }, facts: {} },
    section,
  );
}
