import { matchPrefixPatterns } from '../integrity/module.js';

const GLOB = /[*?[\\]/;

/**
 * Module path patterns (Go prefix-pattern rules, as GOPRIVATE) indexed for
 * fast matching: literal patterns are looked up by each element-prefix of the
 * path; only patterns with glob characters are matched one by one.
 */
export class PatternIndex<T> {
  private readonly exact = new Map<string, T[]>();
  private readonly globs: Array<{ pattern: string; item: T }> = [];

  constructor(entries: Iterable<{ pattern: string; item: T }>) {
    for (const { pattern, item } of entries) {
      const p = pattern.replace(/\/+$/, '');
      if (p === '') continue;
      if (GLOB.test(p)) this.globs.push({ pattern: p, item });
      else {
        const list = this.exact.get(p);
        if (list) list.push(item);
        else this.exact.set(p, [item]);
      }
    }
  }

  get size(): number {
    return this.exact.size + this.globs.length;
  }

  /** Every item whose pattern matches the path, literal matches first (shortest prefix first). */
  match(path: string): T[] {
    const out: T[] = [];
    let i = path.indexOf('/');
    for (;;) {
      const hit = this.exact.get(i < 0 ? path : path.slice(0, i));
      if (hit) out.push(...hit);
      if (i < 0) break;
      i = path.indexOf('/', i + 1);
    }
    for (const g of this.globs) if (matchPrefixPatterns(g.pattern, path)) out.push(g.item);
    return out;
  }

  first(path: string): T | undefined {
    return this.match(path)[0];
  }
}
