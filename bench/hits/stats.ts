/** Medians, spreads and ratios of per-round figures (pure; unit-tested in test/bench/). */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(xs: readonly number[]): Spread {
  const ok = xs.filter(Number.isFinite);
  return { median: median(ok), min: Math.min(...ok), max: Math.max(...ok) };
}

/**
 * Per-round ratios a[i]/b[i] (rounds are interleaved, so each round's pair saw
 * the same machine load), summarised as their median and range. A pair with a
 * missing or zero figure is left out.
 */
export function ratios(a: readonly number[], b: readonly number[]): Spread {
  const out: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++)
    if (a[i]! > 0 && b[i]! > 0) out.push(a[i]! / b[i]!);
  return spread(out);
}

/** A figure with 2–3 significant digits and a k suffix over 10,000: 4.7k, 275, 0.077. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return '?';
  // Thresholds sit where rounding carries over (99.96 prints as 100, not 100.0).
  const a = Math.abs(x);
  if (a >= 9_999.5) return `${(x / 1000).toFixed(a >= 99_950 ? 0 : 1)}k`;
  if (a >= 99.95) return x.toFixed(0);
  if (a >= 9.995) return x.toFixed(1);
  if (a >= 0.9995) return x.toFixed(2);
  return x.toPrecision(2);
}

/** "median (min–max)", or the one figure when the range is empty. */
export function fmtSpread(s: Spread, unit = ''): string {
  if (!Number.isFinite(s.median)) return '—';
  const u = unit ? ` ${unit}` : '';
  if (num(s.min) === num(s.max)) return `${num(s.median)}${u}`;
  return `${num(s.median)}${u} (${num(s.min)}–${num(s.max)})`;
}
