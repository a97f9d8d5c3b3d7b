/**
 * Summary report over audit records: modules served (module zips with an
 * allow or warn decision: what builds downloaded), denials by code, warnings
 * by code (the report counts warn decisions, so it lists what they warned
 * of) and security events.
 */
import { renderTable } from './query.js';
import type { AuditRecord } from './records.js';

export interface ModuleSummary {
  module: string;
  versions: string[];
  firstSeen: string;
  lastSeen: string;
  clients: string[];
  requests: number;
}

export interface DenialSummary {
  code: string;
  count: number;
  modules: string[];
}

export interface SecuritySummary {
  event: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

export interface AuditReport {
  from?: string;
  to?: string;
  records: number;
  decisions: { allow: number; deny: number; warn: number; not_found: number };
  modules: ModuleSummary[];
  denials: DenialSummary[];
  /** Codes of warn decisions (and of warnings on allowed requests), with the modules they concern. */
  warnings: DenialSummary[];
  security: SecuritySummary[];
}

const MAX_LISTED = 1000;

function addCapped(set: Set<string>, v: string): void {
  if (set.size < MAX_LISTED) set.add(v);
}

type Tally = Map<string, { count: number; modules: Set<string> }>;

function tally(into: Tally, codes: string[], module: string): void {
  for (const code of codes.length ? codes : ['(none)']) {
    const d = into.get(code) ?? { count: 0, modules: new Set<string>() };
    d.count++;
    addCapped(d.modules, module);
    into.set(code, d);
  }
}

function byCount(t: Tally): DenialSummary[] {
  return [...t.entries()]
    .map(([code, d]) => ({ code, count: d.count, modules: [...d.modules].sort() }))
    .sort((a, b) => b.count - a.count || (a.code < b.code ? -1 : 1));
}

function codeTable(rows: DenialSummary[]): string {
  return renderTable(
    rows.map((x) => ({ code: x.code, count: String(x.count), modules: x.modules.join(' ') })),
    ['code', 'count', 'modules'],
  );
}

/** Builds the report from a record stream (e.g. queryAudit with since/until). */
export async function buildReport(records: AsyncIterable<AuditRecord>): Promise<AuditReport> {
  const rep: AuditReport = {
    records: 0,
    decisions: { allow: 0, deny: 0, warn: 0, not_found: 0 },
    modules: [],
    denials: [],
    warnings: [],
    security: [],
  };
  const mods = new Map<string, { s: ModuleSummary; versions: Set<string>; clients: Set<string> }>();
  const denials = new Map<string, { count: number; modules: Set<string> }>();
  const warnings = new Map<string, { count: number; modules: Set<string> }>();
  const sec = new Map<string, SecuritySummary>();
  for await (const r of records) {
    rep.records++;
    if (!rep.from || r.time < rep.from) rep.from = r.time;
    if (!rep.to || r.time > rep.to) rep.to = r.time;
    if (r.type === 'decision') {
      rep.decisions[r.decision] = (rep.decisions[r.decision] ?? 0) + 1;
      if (r.decision === 'deny') {
        tally(denials, r.codes, r.module);
        continue;
      }
      if (r.decision === 'warn') tally(warnings, r.codes, r.module);
      if (r.kind !== 'zip') continue;
      let m = mods.get(r.module);
      if (!m) {
        m = {
          s: {
            module: r.module,
            versions: [],
            firstSeen: r.time,
            lastSeen: r.time,
            clients: [],
            requests: 0,
          },
          versions: new Set(),
          clients: new Set(),
        };
        mods.set(r.module, m);
      }
      m.s.requests++;
      if (r.time < m.s.firstSeen) m.s.firstSeen = r.time;
      if (r.time > m.s.lastSeen) m.s.lastSeen = r.time;
      if (r.version) addCapped(m.versions, r.version);
      addCapped(m.clients, r.client.id);
    } else if (r.type === 'security') {
      const s = sec.get(r.event) ?? {
        event: r.event,
        count: 0,
        firstSeen: r.time,
        lastSeen: r.time,
      };
      s.count++;
      if (r.time < s.firstSeen) s.firstSeen = r.time;
      if (r.time > s.lastSeen) s.lastSeen = r.time;
      sec.set(r.event, s);
    }
  }
  rep.modules = [...mods.values()]
    .map((m) => ({ ...m.s, versions: [...m.versions].sort(), clients: [...m.clients].sort() }))
    .sort((a, b) => (a.module < b.module ? -1 : a.module > b.module ? 1 : 0));
  rep.denials = byCount(denials);
  rep.warnings = byCount(warnings);
  rep.security = [...sec.values()].sort(
    (a, b) => b.count - a.count || (a.event < b.event ? -1 : 1),
  );
  return rep;
}

/** Renders the report as JSON (one document) or as text tables. */
export function formatReport(rep: AuditReport, format: 'table' | 'json'): string {
  if (format === 'json') return `${JSON.stringify(rep, null, 2)}\n`;
  const d = rep.decisions;
  const parts = [
    `Period: ${rep.from ?? '-'} .. ${rep.to ?? '-'}  records: ${rep.records}  allow: ${d.allow}  warn: ${d.warn}  deny: ${d.deny}  not found: ${d.not_found}\n`,
    `\nModules served (${rep.modules.length})\n`,
    renderTable(
      rep.modules.map((m) => ({
        module: m.module,
        versions: m.versions.join(' '),
        first: m.firstSeen,
        last: m.lastSeen,
        clients: m.clients.join(' '),
        requests: String(m.requests),
      })),
      ['module', 'versions', 'first', 'last', 'clients', 'requests'],
    ),
    `\nDenials by code (${rep.denials.length})\n`,
    codeTable(rep.denials),
    `\nWarnings by code (${rep.warnings.length})\n`,
    codeTable(rep.warnings),
    `\nSecurity events (${rep.security.length})\n`,
    renderTable(
      rep.security.map((x) => ({
        event: x.event,
        count: String(x.count),
        first: x.firstSeen,
        last: x.lastSeen,
      })),
      ['event', 'count', 'first', 'last'],
    ),
  ];
  return parts.join('');
}
