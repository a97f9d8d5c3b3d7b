export interface Result {
  id: string;
  label: string;
  value: number;
  unit: string;
  /** The target, compared with `better`. */
  target?: number;
  better?: 'higher' | 'lower';
  note?: string;
}

/** What a scenario returns: its results, and optionally a preformatted block printed before them. */
export interface Report {
  results: Result[];
  text?: string;
}

export function verdict(r: Result): 'PASS' | 'MISS' | '' {
  if (r.target === undefined || !Number.isFinite(r.value)) return '';
  return (r.better === 'lower' ? r.value <= r.target : r.value >= r.target) ? 'PASS' : 'MISS';
}

export function table(results: Result[]): string {
  const rows = results.map((r) => [
    r.label,
    Number.isFinite(r.value) ? `${r.value.toFixed(r.value < 10 ? 2 : 1)} ${r.unit}` : '—',
    r.target === undefined ? '' : `${r.better === 'lower' ? '<=' : '>='} ${r.target} ${r.unit}`,
    verdict(r),
    r.note ?? '',
  ]);
  const head = ['scenario', 'measured', 'target', '', 'notes'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A self-contained HTML page with each targeted figure as a bar against its target. */
export function html(results: Result[]): string {
  const bars = results
    .filter((r) => r.target !== undefined)
    .map((r) => {
      const ratio =
        r.better === 'lower' ? r.target! / Math.max(r.value, 1e-9) : r.value / r.target!;
      const ok = verdict(r) === 'PASS';
      const raw = Number.isFinite(ratio) ? Math.round(Math.min(ratio, 2) * 50) : 100;
      // A met target always reaches the dashed line (e.g. 0 errors against a target of 0).
      const pct = ok ? Math.max(50, raw) : Math.min(49, raw);
      return `<div class="row"><div class="label">${esc(r.label)}</div><div class="bar"><div class="fill ${ok ? 'pass' : 'miss'}" style="width:${pct}%"></div><div class="target"></div></div><div class="val">${r.value.toFixed(2)} ${esc(r.unit)} (target ${r.better === 'lower' ? '≤' : '≥'} ${r.target}) ${ok ? 'PASS' : 'MISS'}</div></div>`;
    })
    .join('\n');
  return `<!doctype html><meta charset="utf-8"><title>modgate benchmarks</title>
<style>body{font:14px system-ui;margin:2em}.row{display:flex;align-items:center;margin:.4em 0}.label{width:28em}.bar{position:relative;width:30em;height:1.2em;background:#eee}.fill{height:100%}.pass{background:#2a2}.miss{background:#c33}.target{position:absolute;left:50%;top:-3px;bottom:-3px;border-left:2px dashed #000}.val{margin-left:1em}</style>
<h1>modgate benchmarks</h1><p>The dashed line is the target; a bar past it meets the target.</p>
${bars}`;
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
