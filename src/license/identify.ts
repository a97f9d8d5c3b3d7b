/**
 * SPDX identification of license texts: a text is identified as license L
 * only when, normalised, it is L's text from spdx-license-list, with the
 * template's variable parts (copyright lines, <owner>-style placeholders and
 * the holder named in BSD-style clauses) free and everything else word for
 * word. A changed word is not the license. Normalisation follows the SPDX
 * matching guidelines in part (case, punctuation, whitespace, bullets,
 * licence/license). PURE (the texts come with the package).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const FULL = require('spdx-license-list/full') as Record<
  string,
  { licenseText: string; name: string }
>;

interface Template {
  id: string;
  words: number;
  /** Every literal word of the template: a text lacking one cannot match. */
  need: string[];
  /** Compiled on first use: most templates are never near a text's length. */
  re?: RegExp;
  src: string;
}

const EQUIV: Array<[RegExp, string]> = [
  [/\blicence\b/g, 'license'],
  [/\bcopyright owner\b/g, 'copyright holder'],
  [/\bcopyright holders\b/g, 'copyright holder'],
  [/\bowner\b/g, 'holder'],
];

/** A copyright notice (a year, (c) or © after "Copyright"), not a wrapped line of the body. */
const COPYRIGHT_LINE =
  /^\s*(copyright\s*(\(c\)|©|[0-9]{4}|<)|©|all rights reserved\.?\s*$)|^\s*copyright\s*\S*\s*$/i;

/** A first line that is only the license's name (SPDX: the title may be omitted). */
const TITLE_LINE = /^\s*(the\s+)?[\w .,()\-"]{0,80}\blicen[cs]e\b[\w .,:()\-"]{0,40}$/i;

function dropTitle(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const i = lines.findIndex((l) => l.trim() !== '');
  if (i >= 0 && TITLE_LINE.test(lines[i]!) && lines[i]!.trim().split(/\s+/).length <= 12)
    lines.splice(i, 1);
  return lines.join('\n');
}

/** Lower case, no copyright notices, no punctuation or bullets, single spaces. */
export function normalise(text: string): string {
  let s = text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .filter((l) => !COPYRIGHT_LINE.test(l))
    .join('\n')
    .toLowerCase()
    .replace(/[‘’`´]/g, "'")
    .replace(/[“”]/g, '"')
    .replace(/https?:\/\/\S+/g, (u) => u.replace(/^https/, 'http').replace(/[/.]+$/, ''))
    .replace(/^\s*(\(?[0-9a-z]{1,3}[.)]|[*•-])\s+/gm, ' ')
    .replace(/[^a-z0-9<>\s]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  for (const [re, to] of EQUIV) s = s.replace(re, to);
  return s;
}

const WILD = '(?:\\S+ ){0,16}?';

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function template(id: string, text: string): Template | undefined {
  let n = normalise(dropTitle(text));
  // The holder a BSD-style clause names is a variable part.
  n = n.replace(
    /neither the name of (the copyright holder|<[^>]*>)( nor)/g,
    'neither the name of <holder>$2',
  );
  // ISC names its holder in the disclaimer; that name is a variable part too.
  if (id === 'ISC')
    n = n
      .replace(/and isc disclaims/, 'and <holder> disclaims')
      .replace(/shall isc be/, 'shall <holder> be');
  if (n.split(' ').length < 8) return undefined;
  // Texts that end in an optional appendix (Apache-2.0) may stop before it.
  const end = n.indexOf('end of terms and conditions');
  const parts = n.split(/\s*<[^>]*>\s*/);
  // Bounded backtracking: a template with many free parts is not used.
  if (parts.length > 8) return undefined;
  let src = parts.map((p) => escape(p)).join(` ${WILD}`);
  src = src.replace(/ {2,}/g, ' ');
  if (end > 0) {
    const head = n.slice(0, end + 'end of terms and conditions'.length);
    const headSrc = head
      .split(/\s*<[^>]*>\s*/)
      .map(escape)
      .join(` ${WILD}`);
    src = `(?:${headSrc}(?: .*)?|${src})`;
  }
  const plain = n.replace(/<[^>]*>/g, '').trim();
  return {
    id,
    words: plain.split(' ').length,
    need: [...new Set((end > 0 ? n.slice(0, end) : n).replace(/<[^>]*>/g, ' ').split(' '))].filter(
      (w) => w,
    ),
    src: `^${src}$`,
  };
}

interface Known {
  id: string;
  text: string;
  /** Whitespace-separated words of the raw text: a cheap first filter. */
  raw: number;
  /** The compiled template, made on first need (null: not usable). */
  t?: Template | null;
}

let known: Known[] | undefined;

function rawWords(s: string): number {
  return s.split(/\s+/).filter((w) => w).length;
}

function candidates(text: string): Template[] {
  known ??= Object.entries(FULL).map(([id, l]) => ({
    id,
    text: l.licenseText,
    raw: rawWords(l.licenseText),
  }));
  const r = rawWords(text);
  const out: Template[] = [];
  for (const k of known) {
    if (k.raw < r * 0.5 - 20 || k.raw > r * 2 + 60) continue;
    if (k.t === undefined) k.t = template(k.id, k.text) ?? null;
    if (k.t) out.push(k.t);
  }
  return out;
}

/** The SPDX id of a license text, or undefined when it is no license's text word for word. */
export function identifyText(text: string): string | undefined {
  let n = normalise(dropTitle(text));
  n = n.replace(
    /neither the name of (.{1,200}?) nor the names of/g,
    'neither the name of <holder> nor the names of',
  );
  const words = n.split(' ').length;
  const have = new Set(n.split(' '));
  for (const t of candidates(text)) {
    if (words < t.words * 0.75 || words > t.words * 1.25 + 40) continue;
    if (!t.need.every((w) => have.has(w) || w === 'holder')) continue;
    t.re ??= new RegExp(t.src);
    if (t.re.test(n.replace(/<holder>/g, 'the copyright holder')) || t.re.test(n)) return t.id;
  }
  return undefined;
}
