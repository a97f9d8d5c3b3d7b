/**
 * Semantic versions exactly as the go command reads them (golang.org/x/mod/semver):
 * a leading "v", shorthands "v1" and "v1.2", no leading zeros. This is not npm's semver.
 * Invalid versions compare equal to each other and below every valid version.
 */

export interface Parsed {
  major: string;
  minor: string;
  patch: string;
  short: string;
  prerelease: string;
  build: string;
}

const RE =
  /^v(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)(-(?:[0-9A-Za-z-]+)(?:\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?$/;

/** The parts of a valid version, for callers that compare one version many times. */
export function parse(v: string): Parsed | undefined {
  const m = RE.exec(v);
  if (!m) return undefined;
  const [, maj, min, pat, pre = '', bld = ''] = m;
  if (
    pre &&
    pre
      .slice(1)
      .split('.')
      .some((id) => /^0[0-9]+$/.test(id))
  )
    return undefined;
  if (min === undefined)
    return { major: maj!, minor: '0', patch: '0', short: '.0.0', prerelease: '', build: '' };
  if (pat === undefined)
    return { major: maj!, minor: min, patch: '0', short: '.0', prerelease: '', build: '' };
  return { major: maj!, minor: min, patch: pat, short: '', prerelease: pre, build: bld };
}

export function isValid(v: string): boolean {
  return parse(v) !== undefined;
}

/** The canonical form: shorthands expanded, build metadata dropped; "" if invalid. */
export function canonical(v: string): string {
  const p = parse(v);
  if (!p) return '';
  if (p.build) return v.slice(0, v.length - p.build.length);
  return v + p.short;
}

export function major(v: string): string {
  const p = parse(v);
  return p ? `v${p.major}` : '';
}

export function majorMinor(v: string): string {
  const p = parse(v);
  return p ? `v${p.major}.${p.minor}` : '';
}

export function prerelease(v: string): string {
  return parse(v)?.prerelease ?? '';
}

export function build(v: string): string {
  return parse(v)?.build ?? '';
}

function compareInt(x: string, y: string): number {
  if (x === y) return 0;
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : 1;
}

function comparePrerelease(x: string, y: string): number {
  if (x === y) return 0;
  if (x === '') return 1;
  if (y === '') return -1;
  const xs = x.slice(1).split('.');
  const ys = y.slice(1).split('.');
  for (let i = 0; i < xs.length && i < ys.length; i++) {
    const dx = xs[i]!;
    const dy = ys[i]!;
    if (dx === dy) continue;
    const nx = /^[0-9]+$/.test(dx);
    const ny = /^[0-9]+$/.test(dy);
    if (nx !== ny) return nx ? -1 : 1;
    if (nx && dx.length !== dy.length) return dx.length < dy.length ? -1 : 1;
    return dx < dy ? -1 : 1;
  }
  return xs.length < ys.length ? -1 : 1;
}

/** -1, 0 or +1. Build metadata is ignored. */
export function compare(v: string, w: string): number {
  return compareParsed(parse(v), parse(w));
}

/** compare over parsed versions (undefined: invalid). */
export function compareParsed(pv: Parsed | undefined, pw: Parsed | undefined): number {
  if (!pv && !pw) return 0;
  if (!pv) return -1;
  if (!pw) return 1;
  return (
    compareInt(pv.major, pw.major) ||
    compareInt(pv.minor, pw.minor) ||
    compareInt(pv.patch, pw.patch) ||
    comparePrerelease(pv.prerelease, pw.prerelease)
  );
}

/** The larger of two versions, in canonical form. */
export function max(v: string, w: string): string {
  const cv = canonical(v);
  const cw = canonical(w);
  return compare(cv, cw) > 0 ? cv : cw;
}

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Sorts in place by compare, breaking ties by byte order (semver.Sort). */
export function sort(list: string[]): string[] {
  return list.sort((a, b) => compare(a, b) || byteCompare(a, b));
}
