/** The peers table of the hits bench, as Markdown (pasteable into bench/HISTORY.md). */
import type { Load } from './load.js';
import {
  COLUMNS,
  ROWS,
  coresUsed,
  cpuPerReqUs,
  p50,
  perCore,
  rps,
  series,
  type Measured,
  type Row,
  type ServerId,
} from './plan.js';
import { fmtSpread, median, spread } from './stats.js';

interface Line {
  label: string;
  row: Row;
  f: (l: Load) => number;
  unit: string;
}

const proto = (r: Row): string => r.proto.toUpperCase();

function lines(): Line[] {
  const byId = (id: string): Row => ROWS.find((r) => r.id === id)!;
  const out: Line[] = [];
  for (const r of ROWS.filter((r) => r.conns === 50))
    out.push({ label: `${r.what}, ${proto(r)}, req/s`, row: r, f: rps, unit: '' });
  for (const id of ['info.http', 'mod.http', 'info.https', 'zip.http', 'zip.https']) {
    const r = byId(id);
    const zip = r.kind === 'zip';
    out.push({
      label: `CPU per ${r.what} hit, ${proto(r)}`,
      row: r,
      f: zip ? (l) => cpuPerReqUs(l) / 1000 : cpuPerReqUs,
      unit: zip ? 'ms' : 'µs',
    });
  }
  for (const r of ROWS.filter((r) => r.conns === 50))
    out.push({ label: `req/s per core, ${r.what}, ${proto(r)}`, row: r, f: perCore, unit: '' });
  out.push({ label: 'cores used, `.info`, HTTP', row: byId('info.http'), f: coresUsed, unit: '' });
  const one = byId('info.http.1');
  out.push({ label: '`.info`, HTTP, 1 connection, p50', row: one, f: p50, unit: 'ms' });
  out.push({ label: '`.info`, HTTP, 1 connection, req/s', row: one, f: rps, unit: '' });
  return out;
}

/** A short form of why a server is absent, for its cells. */
function short(why: string): string {
  return why.split(' (')[0]!.split(':')[0]!;
}

function cell(m: Measured, line: Line, s: ServerId): string {
  if (!line.row.servers.includes(s)) return '—';
  const why = m.missing[s];
  if (why) return short(why);
  return fmtSpread(spread(series(m, line.row.id, s, line.f)), line.unit);
}

export function peersTable(m: Measured): string {
  const head = ['cached hit, 50 connections unless said', ...COLUMNS.map((c) => c.head)];
  const body = lines().map((l) => [l.label, ...COLUMNS.map((c) => cell(m, l, c.id))]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const fmt = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  // The rule Prettier writes, so that a pasted table stays as it is.
  const rule = fmt(widths.map((w) => '-'.repeat(w)));
  const notes = [
    `Median (min–max) of ${m.rounds} interleaved rounds of ${m.seconds} s per cell (zips at least 5 s), load generator ${m.generator}.`,
    `CPU is utime+stime of each server's process tree (/proc) over its run; per core = requests / CPU-second.`,
    `fsync of this disk (256-byte append + fsync, median per round): ${fmtSpread(spread(m.fsync), 'ms')}; median ${median(m.fsync).toFixed(3)} ms.`,
    ...COLUMNS.filter((c) => m.about[c.id]).map((c) => `${c.head}: ${m.about[c.id]}.`),
    ...COLUMNS.filter((c) => m.missing[c.id]).map((c) => `${c.head}: ${m.missing[c.id]}.`),
    ...m.problems,
  ];
  return [fmt(head), rule, ...body.map(fmt), '', ...notes].join('\n');
}
