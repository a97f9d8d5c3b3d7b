import { matchPrefixPatterns } from '../integrity/module.js';

const GLOB = /[*?[\\]/;

/**
 * Module path patterns (Go prefix-pattern rules, as GOPRIVATE) indexed for
 * fast matching, so that a lookup costs O(path depth + matching patterns)
 * whatever the list's length (tens of thousands of waivers must not make every
 * decision slower). Literal patterns are looked up by each element-prefix of
 * the path. A pattern with glob characters is filed under its leading literal
 * elements (`github.com/acme/*` under `github.com/acme`): its literal elements
 * can only match the same elements of a path, so it is tried only for paths
 * with that prefix. Only patterns whose first element is a glob are tried for
 * every path.
 */
export class PatternIndex<T> {
  private readonly exact = new Map<string, T[]>();
  private readonly globs = new Map<string, Array<{ pattern: string; item: T }>>();
  private count = 0;

  constructor(entries: Iterable<{ pattern: string; item: T }>) {
    for (const { pattern, item } of entries) {
      // A comma separates patterns in Go's lists (GOPRIVATE); a module path never holds one.
      for (const part of pattern.split(',')) {
        const p = part.replace(/\/+$/, '');
        if (p === '') continue;
        this.count++;
        if (GLOB.test(p)) push(this.globs, literalPrefix(p), { pattern: p, item });
        else push(this.exact, p, item);
      }
    }
  }

  /** The number of patterns indexed (a comma-separated entry counts once per part). */
  get size(): number {
    return this.count;
  }

  /** Every item whose pattern matches the path, literal matches first (shortest prefix first). */
  match(path: string): T[] {
    const out: T[] = [];
    const prefixes = [''];
    let i = path.indexOf('/');
    for (;;) {
      const prefix = i < 0 ? path : path.slice(0, i);
      prefixes.push(prefix);
      const hit = this.exact.get(prefix);
      if (hit) out.push(...hit);
      if (i < 0) break;
      i = path.indexOf('/', i + 1);
    }
    for (const prefix of prefixes)
      for (const g of this.globs.get(prefix) ?? [])
        if (matchPrefixPatterns(g.pattern, path)) out.push(g.item);
    return out;
  }

  first(path: string): T | undefined {
    return this.match(path)[0];
  }
}

/** The pattern's leading elements without glob characters ('' when the first element has one). */
function literalPrefix(pattern: string): string {
  const elems = pattern.split('/');
  const n = elems.findIndex((e) => GLOB.test(e));
  return elems.slice(0, n).join('/');
}

function push<V>(map: Map<string, V[]>, key: string, v: V): void {
  const list = map.get(key);
  if (list) list.push(v);
  else map.set(key, [v]);
}
