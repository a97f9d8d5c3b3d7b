/** The text report of `modgate policy check`, and the one note on missing facts. */
import type { LicenseFacts } from '../contracts.js';
import type { GatewayFacts } from './facts-client.js';

export interface FactsState {
  facts?: GatewayFacts;
  /** Why no facts are fetched at all (offline, no upstream). */
  noFacts?: string;
}

export const isFactGap = (d: { code: string }): boolean => d.code === 'FACT_UNAVAILABLE';

const FACTS_FIX =
  'fix: run against a modgate with --gateway URL (--ca, --token as needed), or make GOPROXY/upstream a reachable proxy (with its pins, docs/pins.md); until then rules that need these facts deny (FACT_UNAVAILABLE)';

/** One sentence for all requirements whose facts were missing, or undefined. */
export function factsNote(ctx: FactsState, count: number): string | undefined {
  if (count === 0) return undefined;
  const why =
    ctx.noFacts ??
    (ctx.facts?.firstFailure
      ? `${ctx.facts.failures} lookups failed, first: ${ctx.facts.firstFailure}`
      : `${ctx.facts?.base ?? 'the upstream'} does not know them`);
  return `facts unavailable for ${count} requirement(s): ${why}; ${FACTS_FIX}`;
}

export function report(
  file: string,
  results: Array<{
    module: string;
    version: string;
    kind: string;
    allow: boolean;
    deny: Array<{ code: string; message: string }>;
    warn: Array<{ code: string; message: string }>;
    licenses?: LicenseFacts;
    licenseNote?: string;
  }>,
  note?: string,
  licensesNote?: string,
): string {
  const lines = [
    `modgate policy check ${file}: ${results.length} requirements, ${results.filter((r) => !r.allow).length} denied`,
    ...(note ? [`note: ${note}`] : []),
    ...(licensesNote ? [`note: licenses not read: ${licensesNote}`] : []),
    '',
  ];
  for (const r of results) {
    const mark = r.allow ? (r.warn.length ? 'WARN ' : 'ok   ') : 'DENY ';
    // Missing facts were explained once above: one short mark per requirement.
    const gaps = r.deny.filter(isFactGap).map((d) => d.message.replace(/^\S+: /, ''));
    lines.push(
      `${mark} ${r.module} ${r.version}${r.kind === 'mod' ? ' (go.mod only)' : ''}${gaps.length ? `  [FACT_UNAVAILABLE: ${gaps.join(', ')}]` : ''}`,
    );
    for (const d of r.deny.filter((x) => !isFactGap(x)))
      lines.push(`        ${d.code}: ${d.message}`);
    for (const w of r.warn) lines.push(`        warning ${w.code}: ${w.message}`);
    const lic = r.licenseNote && r.licenseNote === licensesNote ? undefined : licenseLine(r);
    if (lic) lines.push(`        license: ${lic}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The license of a requirement in words: its expression, unknown (and why), or why it was not read. */
function licenseLine(r: { kind: string; licenses?: LicenseFacts; licenseNote?: string }) {
  if (r.kind !== 'zip') return undefined;
  const l = r.licenses;
  if (!l) return r.licenseNote ? `not read: ${r.licenseNote}` : undefined;
  if (!l.unknown) return l.expression;
  if (l.files.length === 0) return 'unknown (no license file at the module root)';
  const odd = l.files.filter((f) => f.spdx === '').map((f) => f.path);
  return `unknown (${odd.join(', ')}: no SPDX license text matches)`;
}
