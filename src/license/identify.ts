/**
 * SPDX identification of license texts: a text is identified as license L
 * only when its words, normalised as the SPDX matching guidelines allow
 * (normalise.ts), are L's reference text from spdx-license-list with the
 * parts SPDX's templates leave free (template.ts: the title, copyright
 * notices, placeholders, optional sections) and every other word in its
 * place. A changed, added or dropped word is not the license. PURE (the texts
 * come with the package).
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { normalise } from './normalise.js';
import { compile, firstLine, isTitle, matches, type Template } from './template.js';

const require = createRequire(import.meta.url);
const FULL = require('spdx-license-list/full') as Record<
  string,
  { licenseText: string; name: string }
>;

/**
 * Ids the SPDX list has deprecated for others with the same text (GPL-2.0 is
 * GPL-2.0-only): never the answer while a current id matches.
 */
const DEPRECATED =
  /^((A|L)?GPL-[0-9.]+\+?|GFDL-[0-9.]+|(A|L)?GPL-[0-9.]+-with-.*|eCos-2\.0|wxWindows|Nunit|StandardML-NJ|BSD-2-Clause-(FreeBSD|NetBSD)|bzip2-1\.0\.5)$/;

interface Known {
  id: string;
  name: string;
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

/** Templates whose reference text is anywhere near the text's length, compiled on first use. */
function candidates(text: string): Template[] {
  known ??= Object.entries(FULL).map(([id, l]) => ({
    id,
    name: l.name,
    text: l.licenseText,
    raw: rawWords(l.licenseText),
  }));
  const r = rawWords(text);
  const out: Template[] = [];
  for (const k of known) {
    if (k.raw < r * 0.5 - 40 || k.raw > r * 2.5 + 200) continue;
    if (k.t === undefined) k.t = compile(k.id, k.name, k.text) ?? null;
    if (k.t) out.push(k.t);
  }
  return out;
}

/** Current ids before deprecated ones, "-only" before "-or-later", the more specific template first. */
function rank(a: Template, b: Template): number {
  const dep = Number(DEPRECATED.test(a.id)) - Number(DEPRECATED.test(b.id));
  if (dep) return dep;
  const later = Number(a.id.endsWith('-or-later')) - Number(b.id.endsWith('-or-later'));
  if (later) return later;
  return b.literals - a.literals || (a.id < b.id ? -1 : 1);
}

/**
 * Answers by the text's SHA-256: most modules ship one of a few texts byte for
 * byte (a cold graph of 226 versions identified the same Apache-2.0 text
 * dozens of times). Bounded; the oldest answer goes first.
 */
const seen = new Map<string, string | undefined>();
const SEEN_MAX = 1024;

/** The SPDX id of a license text, or undefined when it is no license's text word for word. */
export function identifyText(text: string): string | undefined {
  const key = createHash('sha256').update(text).digest('base64');
  if (seen.has(key)) return seen.get(key);
  const id = identifyUncached(text);
  if (seen.size >= SEEN_MAX) seen.delete(seen.keys().next().value as string);
  seen.set(key, id);
  return id;
}

function identifyUncached(text: string): string | undefined {
  const all = normalise(text);
  if (all.length === 0) return undefined;
  const head = firstLine(text);
  const untitled = normalise(head.rest);
  const found = candidates(text).filter(
    (t) => matches(t, all) || (isTitle(head.words, t) && matches(t, untitled)),
  );
  return found.sort(rank)[0]?.id;
}
