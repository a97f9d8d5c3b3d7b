/**
 * The console's aggregations over a record stream: the overview's counts per
 * time bucket, and the module inventory. Each holds a bounded amount per
 * bucket or module (lists are capped), whatever the trail's size.
 */
import type { AuditRecord } from '../audit/records.js';

export interface Bucket {
  start: string;
  requests: number;
  allow: number;
  deny: number;
  error: number;
}

/**
 * Counts per bucket: requests are decisions and access answers (an aggregated
 * access record counts for its `count`); allow includes warn; error is an
 * access answer with status 400 or more.
 */
export async function countBuckets(
  records: AsyncIterable<AuditRecord>,
  from: Date,
  to: Date,
  n: number,
): Promise<Bucket[]> {
  const width = Math.max(1, Math.ceil((to.getTime() - from.getTime()) / n));
  const out: Bucket[] = Array.from({ length: n }, (_, i) => ({
    start: new Date(from.getTime() + i * width).toISOString(),
    requests: 0,
    allow: 0,
    deny: 0,
    error: 0,
  }));
  for await (const r of records) {
    if (r.type !== 'decision' && r.type !== 'access') continue;
    const i = Math.floor((Date.parse(r.time ?? '') - from.getTime()) / width);
    const b = out[i];
    if (!b) continue;
    if (r.type === 'decision') {
      b.requests++;
      if (r.decision === 'allow' || r.decision === 'warn') b.allow++;
      else if (r.decision === 'deny') b.deny++;
    } else {
      const count = r.count > 0 ? r.count : 1;
      b.requests += count;
      if (r.status >= 400) b.error += count;
    }
  }
  return out;
}

const MAX_LISTED = 100;
const VULN_CODES = /^(VULNERABLE|VULN_)/;

export interface VersionEntry {
  version: string;
  allowed: number;
  denied: number;
  codes: string[];
  firstSeen: string;
  lastSeen: string;
  /** The newest record of the version that carries evidence, by id. */
  evidenceId?: string;
  h1?: string;
}

export interface ModuleEntry {
  module: string;
  versions: number;
  firstSeen: string;
  lastSeen: string;
  clients: string[];
  requests: number;
  denied: number;
  license?: string;
  vulns: string[];
}

interface Acc {
  entry: ModuleEntry;
  versions: Set<string>;
  clients: Set<string>;
  vulns: Set<string>;
}

function capAdd(set: Set<string>, v: string): void {
  if (set.size < MAX_LISTED) set.add(v);
}

/** The inventory of modules in the records' decisions, sorted by module path. */
export async function inventory(
  records: AsyncIterable<AuditRecord>,
  maxModules: number,
): Promise<{ modules: ModuleEntry[]; truncated: boolean }> {
  const acc = new Map<string, Acc>();
  let truncated = false;
  for await (const r of records) {
    if (r.type !== 'decision' || r.decision === 'not_found') continue;
    let a = acc.get(r.module);
    if (!a) {
      if (acc.size >= maxModules) {
        truncated = true;
        continue;
      }
      a = {
        entry: {
          module: r.module,
          versions: 0,
          firstSeen: r.time,
          lastSeen: r.time,
          clients: [],
          requests: 0,
          denied: 0,
          vulns: [],
        },
        versions: new Set(),
        clients: new Set(),
        vulns: new Set(),
      };
      acc.set(r.module, a);
    }
    const e = a.entry;
    e.requests++;
    if (r.time < e.firstSeen) e.firstSeen = r.time;
    if (r.time > e.lastSeen) e.lastSeen = r.time;
    if (r.decision === 'deny') e.denied++;
    if (r.version) capAdd(a.versions, r.version);
    capAdd(a.clients, r.client?.id ?? '');
    for (const c of r.codes ?? []) if (VULN_CODES.test(c)) capAdd(a.vulns, c);
    const lic = r.evidence?.licenses?.expression;
    if (lic) e.license = lic;
  }
  const modules = [...acc.values()]
    .map((a) => ({
      ...a.entry,
      versions: a.versions.size,
      clients: [...a.clients].sort(),
      vulns: [...a.vulns].sort(),
    }))
    .sort((x, y) => (x.module < y.module ? -1 : x.module > y.module ? 1 : 0));
  return { modules, truncated };
}

/** One module's versions: counts, refusal codes and the newest evidence of each. */
export async function moduleVersions(
  records: AsyncIterable<AuditRecord & { replica?: string }>,
  maxVersions: number,
): Promise<VersionEntry[]> {
  const acc = new Map<string, VersionEntry & { codeSet: Set<string> }>();
  for await (const r of records) {
    if (r.type !== 'decision') continue;
    const v = r.version ?? '';
    let e = acc.get(v);
    if (!e) {
      if (acc.size >= maxVersions) continue;
      e = {
        version: v,
        allowed: 0,
        denied: 0,
        codes: [],
        codeSet: new Set(),
        firstSeen: r.time,
        lastSeen: r.time,
      };
      acc.set(v, e);
    }
    if (r.decision === 'deny') e.denied++;
    else if (r.decision !== 'not_found') e.allowed++;
    for (const c of r.codes ?? []) capAdd(e.codeSet, c);
    if (r.time > e.lastSeen) e.lastSeen = r.time;
    if (r.time < e.firstSeen) e.firstSeen = r.time;
    if (r.evidence) {
      e.evidenceId = `${r.replica ?? ''}:${r.seq}`;
      if (r.evidence.h1) e.h1 = r.evidence.h1;
    }
  }
  return [...acc.values()]
    .map(({ codeSet, ...e }) => ({ ...e, codes: [...codeSet].sort() }))
    .sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
}
