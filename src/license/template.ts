/**
 * Matching templates made from the reference texts of spdx-license-list. The
 * package ships each license's text, not the SPDX template with its
 * <<var>> and <<beginOptional>> markup, so the parts the SPDX templates mark
 * are marked here: the title (always optional, B.5), <placeholders> in the
 * text (variable), and, per license family, the sections SPDX's templates
 * make optional or variable (RULES). Everything else is literal. PURE.
 */
import { normalise, textLines, words } from './normalise.js';

/** A literal word, a variable part of min..max words, or an optional section (begin, end). */
export type Item =
  | string
  | { kind: 'var'; min: number; max: number }
  | { kind: 'opt'; end: number }
  | { kind: 'end' };

export interface Template {
  id: string;
  items: Item[];
  /** Words a text needs at least and may have at most to match. */
  minWords: number;
  maxWords: number;
  /** Literal words: a template with more is the more specific match. */
  literals: number;
  /** Words a title line of this license may be made of. */
  titleWords: ReadonlySet<string>;
}

/** Markers in the joined word string: a <placeholder>, an address block, optional begin/end. */
const VAR = '\u0001';
const ADDRESS = '\u0004';
const OPT = '\u0002';
const END = '\u0003';

interface Rule {
  ids: RegExp;
  re: RegExp;
  to: string;
}

/** Sections of the SPDX templates that the plain reference texts do not mark. */
const RULES: Rule[] = [
  // GNU texts: the FSF's address under the copyright line varies between copies.
  {
    ids: /^(A|L)?GPL-|^GFDL-/,
    re: /^(.*?\b(?:19|20)[0-9]{2})( .{1,240}?)? (everyone is permitted to copy)/,
    to: `$1 ${ADDRESS} $3`,
  },
  {
    ids: /^(A|L)?GPL-/,
    re: / (how to apply these terms to your new (programs|libraries) .*)$/,
    to: ` ${OPT} $1 ${END}`,
  },
  // The LGPL-3.0 reference text carries the GPL-3.0 after it; a COPYING.LESSER does not.
  {
    ids: /^LGPL-3\.0/,
    re: / (gnu general public license version 3 29 june 2007 .*)$/,
    to: ` ${OPT} $1 ${END}`,
  },
  {
    ids: /^Apache-2\.0$/,
    re: / (appendix how to apply the apache license to your work .*)$/,
    to: ` ${OPT} $1 ${END}`,
  },
  // Creative Commons 4.0: the notice before the license and the one after it.
  {
    ids: /^CC-BY.*-4\.0$/,
    re: /^(.*?)(creative commons corporation creative commons is not a law firm .*? more considerations for the public) /,
    to: `$1 ${OPT} $2 ${END} `,
  },
  {
    ids: /^CC-BY.*-4\.0$/,
    re: / (creative commons is not a party to its public licenses .*)$/,
    to: ` ${OPT} $1 ${END}`,
  },
  // CC0-1.0: its heading and the notice before the dedication.
  {
    ids: /^CC0-1\.0$/,
    re: /^(creative commons legal code cc0 1 0 universal) (creative commons corporation is not a law firm .*? disclaims liability for damages resulting from the use of this document or the information or works provided hereunder) /,
    to: `${OPT} $1 ${END} ${OPT} $2 ${END} `,
  },
  // The holder a BSD-style clause or the ISC disclaimer names.
  {
    ids: /^BSD-/,
    re: /neither the name of the copyrightholder nor/g,
    to: `neither the name of ${VAR} nor`,
  },
  {
    ids: /^BSD-/,
    re: /\b(provided by) the copyrightholder and contributors (as is)\b/g,
    to: `$1 ${VAR} $2`,
  },
  {
    ids: /^BSD-/,
    re: /\b(in no event shall) the copyrightholder or contributors (be liable)\b/g,
    to: `$1 ${VAR} $2`,
  },
  { ids: /^ISC$/, re: /\b(and|shall) isc (disclaims|be)\b/g, to: `$1 ${VAR} $2` },
];

/** Words any license title may use besides the license's own name. */
const TITLE_WORDS = ['the', 'license', 'licenses', 'version', 'v', 'public', 'software'];
const MAX_TITLE_WORDS = 14;

/** The first non-empty line of a text (copyright notices left out), as words. */
export function firstLine(text: string): { words: string[]; rest: string } {
  const lines = textLines(text);
  const i = lines.findIndex((l) => words(l).length > 0);
  if (i < 0) return { words: [], rest: '' };
  return { words: words(lines[i]!), rest: lines.slice(i + 1).join('\n') };
}

/** Whether a line's words can be a title of the license (its name, and title words only). */
export function isTitle(line: string[], t: Template): boolean {
  return (
    line.length > 0 && line.length <= MAX_TITLE_WORDS && line.every((w) => t.titleWords.has(w))
  );
}

export function compile(id: string, name: string, text: string): Template | undefined {
  const head = firstLine(text);
  const nameWords = words(name);
  const titled =
    head.words.length <= MAX_TITLE_WORDS &&
    (head.words.includes('license') || head.words.join(' ') === nameWords.join(' '));
  const body = titled ? normalise(head.rest, true) : normalise(text, true);
  let s = [...(titled ? [OPT, ...head.words, END] : []), ...body].join(' ');
  for (const r of RULES) if (r.ids.test(id)) s = s.replace(r.re, r.to);
  const items = toItems(s.split(' ').filter((w) => w));
  const literals = items.filter((i) => typeof i === 'string').length;
  if (literals < 8) return undefined;
  return {
    id,
    items,
    ...bounds(items),
    literals,
    titleWords: new Set([...TITLE_WORDS, ...nameWords, ...leadingOptional(items)]),
  };
}

/** The words of a template's leading optional section (its title): a title line may use them. */
function leadingOptional(items: Item[]): string[] {
  const first = items[0];
  if (typeof first !== 'object' || first.kind !== 'opt') return [];
  return items.slice(1, first.end).filter((i): i is string => typeof i === 'string');
}

function toItems(tokens: string[]): Item[] {
  const items: Item[] = [];
  const open: number[] = [];
  for (const w of tokens) {
    if (w === VAR) items.push({ kind: 'var', min: 1, max: 20 });
    else if (w === ADDRESS) items.push({ kind: 'var', min: 0, max: 30 });
    else if (w === OPT) {
      open.push(items.length);
      items.push({ kind: 'opt', end: -1 });
    } else if (w === END) {
      const at = open.pop()!;
      items[at] = { kind: 'opt', end: items.length };
      items.push({ kind: 'end' });
    } else items.push(w);
  }
  return items;
}

function bounds(items: Item[]): { minWords: number; maxWords: number } {
  let min = 0;
  let max = 0;
  let depth = 0;
  for (const it of items) {
    if (typeof it === 'string') {
      max++;
      if (depth === 0) min++;
    } else if (it.kind === 'var') {
      max += it.max;
      if (depth === 0) min += it.min;
    } else if (it.kind === 'opt') depth++;
    else depth--;
  }
  return { minWords: min, maxWords: max };
}

/**
 * Whether a text's words are the template's: every literal word in order,
 * each variable part within its bounds, each optional section either whole or
 * absent, and nothing more. Failed (item, position) pairs are remembered, so a
 * text costs at most items × words steps at the variable and optional parts.
 */
export function matches(t: Template, w: string[]): boolean {
  if (w.length < t.minWords || w.length > t.maxWords) return false;
  const { items } = t;
  const n = w.length;
  const failed = new Set<number>();
  const go = (start: number, from: number): boolean => {
    let i = start;
    let p = from;
    for (;;) {
      if (i === items.length) return p === n;
      const it = items[i]!;
      if (typeof it === 'string') {
        if (w[p] !== it) return false;
        i++;
        p++;
        continue;
      }
      if (it.kind === 'end') {
        i++;
        continue;
      }
      const key = i * (n + 1) + p;
      if (failed.has(key)) return false;
      let ok = false;
      if (it.kind === 'opt') ok = go(i + 1, p) || go(it.end + 1, p);
      else for (let k = it.min; k <= it.max && p + k <= n && !ok; k++) ok = go(i + 1, p + k);
      if (!ok) failed.add(key);
      return ok;
    }
  };
  return go(0, 0);
}
