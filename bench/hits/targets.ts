/** The targets of the hits bench, each a median of per-round ratios with its range. */
import type { Result } from '../report.js';
import type { Load } from './load.js';
import { cpuPerReqUs, p50, rps, series, type Measured, type ServerId } from './plan.js';
import { median, num, ratios, spread, type Spread } from './stats.js';

const NAMES: Record<ServerId, string> = {
  modgate: 'modgate',
  goproxy: 'goproxy',
  athens: 'Athens',
  nginx: 'nginx',
  'modgate-noaudit': 'modgate audit off',
};

function range(s: Spread, rounds: number): string {
  return `range ${num(s.min)}–${num(s.max)} over ${rounds} rounds`;
}

interface RatioSpec {
  id: string;
  label: string;
  row: string;
  a: ServerId;
  b: ServerId;
  f: (l: Load) => number;
  target: number;
  better: 'higher' | 'lower';
  /** 1 - a/b instead of a/b. */
  cost?: boolean;
}

function ratio(m: Measured, s: RatioSpec): Result {
  const gone = [s.a, s.b].filter((x) => m.missing[x]);
  if (gone.length)
    return {
      id: s.id,
      label: s.label,
      value: NaN,
      unit: 'x',
      note: gone.map((x) => `${NAMES[x]} ${m.missing[x]}`).join('; '),
    };
  const a = series(m, s.row, s.a, s.f);
  const b = series(m, s.row, s.b, s.f);
  let r = ratios(a, b);
  if (s.cost) r = { median: 1 - r.median, min: 1 - r.max, max: 1 - r.min };
  return {
    id: s.id,
    label: s.label,
    value: r.median,
    unit: 'x',
    target: s.target,
    better: s.better,
    note: `${range(r, m.rounds)}; ${NAMES[s.a]} ${num(median(a))}, ${NAMES[s.b]} ${num(median(b))}`,
  };
}

function specs(): RatioSpec[] {
  const out: RatioSpec[] = [];
  for (const k of ['info', 'mod'])
    out.push({
      id: `hits.cpu.${k}`,
      label: `CPU per cached .${k} hit, modgate/goproxy (HTTP)`,
      row: `${k}.http`,
      a: 'modgate',
      b: 'goproxy',
      f: cpuPerReqUs,
      target: 1.5,
      better: 'lower',
    });
  for (const [row, what] of [
    ['info.http', '.info HTTP'],
    ['mod.http', '.mod HTTP'],
    ['info.https', '.info HTTPS'],
  ] as const)
    out.push({
      id: `hits.rps.${row}.goproxy`,
      label: `req/s ${what}, modgate/goproxy`,
      row,
      a: 'modgate',
      b: 'goproxy',
      f: rps,
      target: 1.0,
      better: 'higher',
    });
  for (const [row, what] of [
    ['info.http', '.info HTTP'],
    ['mod.http', '.mod HTTP'],
  ] as const)
    out.push({
      id: `hits.rps.${row}.athens`,
      label: `req/s ${what}, modgate/Athens`,
      row,
      a: 'modgate',
      b: 'athens',
      f: rps,
      target: 1.2,
      better: 'higher',
    });
  for (const proto of ['http', 'https'])
    out.push({
      id: `hits.rps.zip.${proto}.nginx`,
      label: `req/s 1 MiB .zip ${proto.toUpperCase()}, modgate/nginx (cached-bytes check on)`,
      row: `zip.${proto}`,
      a: 'modgate',
      b: 'nginx',
      f: rps,
      target: 0.8,
      better: 'higher',
    });
  for (const k of ['info', 'mod'])
    out.push({
      id: `hits.audit.${k}`,
      label: `audit cost on cached .${k} hits, 1 - on/off req/s`,
      row: `${k}.http`,
      a: 'modgate',
      b: 'modgate-noaudit',
      f: rps,
      target: 0.15,
      better: 'lower',
      cost: true,
    });
  return out;
}

/** p50 at 1 connection with the audit trail on, against off + one fsync measured in the same run. */
function latency(m: Measured): Result {
  const label = 'p50 .info at 1 conn, audit on (target: audit off + one fsync)';
  if (m.missing.modgate || m.missing['modgate-noaudit'])
    return { id: 'hits.p50.audit', label, value: NaN, unit: 'ms', note: 'modgate missing' };
  const on = spread(series(m, 'info.http.1', 'modgate', p50));
  const off = median(series(m, 'info.http.1', 'modgate-noaudit', p50).filter(Number.isFinite));
  const fsync = median(m.fsync);
  const gp = median(series(m, 'info.http.1', 'goproxy', p50).filter(Number.isFinite));
  return {
    id: 'hits.p50.audit',
    label,
    value: on.median,
    unit: 'ms',
    target: Number((off + fsync).toFixed(3)),
    better: 'lower',
    note: `${range(on, m.rounds)}; off ${num(off)} ms, fsync ${num(fsync)} ms, goproxy ${num(gp)} ms`,
  };
}

export function targets(m: Measured): Result[] {
  return [...specs().map((s) => ratio(m, s)), latency(m)];
}
