/**
 * Pseudo-versions (golang.org/x/mod/module/pseudo.go):
 *   vX.0.0-yyyymmddhhmmss-abcdefabcdef
 *   vX.Y.(Z+1)-0.yyyymmddhhmmss-abcdefabcdef
 *   vX.Y.Z-pre.0.yyyymmddhhmmss-abcdefabcdef
 * optionally followed by build metadata such as +incompatible.
 *
 * Error codes: VERSION_INVALID (not a pseudo-version, bad time, impossible base).
 */
import { ModgateError } from '../errors.js';
import { goQuote } from './module.js';
import { build, canonical, isValid, prerelease } from './semver.js';

const PSEUDO_RE =
  /^v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

function invalid(v: string, reason: string): ModgateError {
  return new ModgateError('VERSION_INVALID', `pseudo-version ${goQuote(v)} invalid: ${reason}`, {
    version: v,
    reason,
  });
}

export function isPseudoVersion(v: string): boolean {
  return v.split('-').length - 1 >= 2 && isValid(v) && PSEUDO_RE.test(v);
}

interface PseudoParts {
  base: string;
  timestamp: string;
  rev: string;
  build: string;
}

function parsePseudo(v: string): PseudoParts {
  if (!isPseudoVersion(v)) throw invalid(v, 'syntax error');
  const bld = build(v);
  let rest = v.slice(0, v.length - bld.length);
  const j = rest.lastIndexOf('-');
  const rev = rest.slice(j + 1);
  rest = rest.slice(0, j);
  const i = rest.lastIndexOf('-');
  const dot = rest.lastIndexOf('.');
  if (dot > i) return { base: rest.slice(0, dot), timestamp: rest.slice(dot + 1), rev, build: bld };
  return { base: rest.slice(0, i), timestamp: rest.slice(i + 1), rev, build: bld };
}

/** The commit time encoded in a pseudo-version (UTC). */
export function pseudoVersionTime(v: string): Date {
  const { timestamp: ts } = parsePseudo(v);
  const [y, mo, d, h, mi, s] = [
    ts.slice(0, 4),
    ts.slice(4, 6),
    ts.slice(6, 8),
    ts.slice(8, 10),
    ts.slice(10, 12),
    ts.slice(12, 14),
  ].map(Number) as [number, number, number, number, number, number];
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, s, 0);
  const ok =
    t.getUTCFullYear() === y &&
    t.getUTCMonth() === mo - 1 &&
    t.getUTCDate() === d &&
    h < 24 &&
    mi < 60 &&
    s < 60;
  if (!ok) throw invalid(v, `malformed time ${goQuote(ts)}`);
  return t;
}

/** The revision identifier (usually a 12-character commit hash prefix). */
export function pseudoVersionRev(v: string): string {
  return parsePseudo(v).rev;
}

/**
 * The tagged version the pseudo-version was derived from ("" when none),
 * with the pseudo-version's build metadata.
 */
export function pseudoVersionBase(v: string): string {
  const p = parsePseudo(v);
  const pre = prerelease(p.base);
  if (pre === '') {
    if (p.build !== '')
      throw invalid(v, `lacks base version, but has build metadata ${goQuote(p.build)}`);
    return '';
  }
  if (pre === '-0') {
    const base = p.base.slice(0, -2);
    const i = base.lastIndexOf('.');
    const patch = decDecimal(base.slice(i + 1));
    if (patch === '') throw invalid(v, `version before ${base} would have negative patch number`);
    return base.slice(0, i + 1) + patch + p.build;
  }
  return p.base.slice(0, -2) + p.build;
}

/** Builds a pseudo-version (module.PseudoVersion). */
export function pseudoVersion(majorV: string, older: string, t: Date, rev: string): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const stamp = `${pad(t.getUTCFullYear(), 4)}${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())}${pad(t.getUTCHours())}${pad(t.getUTCMinutes())}${pad(t.getUTCSeconds())}`;
  const segment = `${stamp}-${rev}`;
  const bld = build(older);
  const base = canonical(older);
  if (base === '') return `${majorV || 'v0'}.0.0-${segment}`;
  if (prerelease(base) !== '') return `${base}.0.${segment}${bld}`;
  const i = base.lastIndexOf('.') + 1;
  return `${base.slice(0, i)}${incDecimal(base.slice(i))}-0.${segment}${bld}`;
}

export function incDecimal(decimal: string): string {
  const d = [...decimal];
  let i = d.length - 1;
  for (; i >= 0 && d[i] === '9'; i--) d[i] = '0';
  if (i >= 0) d[i] = String(Number(d[i]) + 1);
  else {
    d[0] = '1';
    d.push('0');
  }
  return d.join('');
}

export function decDecimal(decimal: string): string {
  const d = [...decimal];
  let i = d.length - 1;
  for (; i >= 0 && d[i] === '0'; i--) d[i] = '9';
  if (i < 0) return '';
  if (i === 0 && d[i] === '1' && d.length > 1) d.shift();
  else d[i] = String(Number(d[i]) - 1);
  return d.join('');
}
