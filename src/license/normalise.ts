/**
 * Normalisation of license texts for matching, after the SPDX License List
 * Matching Guidelines (spdx.github.io/spdx-spec, Annex B): case (B.4),
 * punctuation, hyphens, dashes and quotes (B.6), whitespace (B.3), bullets and
 * numbering at the start of a line (B.8), varietal spellings (B.9),
 * copyright notices (B.11), "http" and "https" (B.7.3). What is left is a
 * list of words compared word for word: nothing else is forgiven. PURE.
 */

/**
 * Varietal spellings the guidelines' equivalent-words list treats as one word
 * (a subset: the words that occur in the license texts modgate meets).
 */
const EQUIVALENT = new Map<string, string>(
  Object.entries({
    licence: 'license',
    licences: 'licenses',
    licenced: 'licensed',
    licencee: 'licensee',
    licencor: 'licensor',
    licencing: 'licensing',
    sublicence: 'sublicense',
    acknowledgement: 'acknowledgment',
    analogue: 'analog',
    authorisation: 'authorization',
    authorised: 'authorized',
    cancelled: 'canceled',
    catalogue: 'catalog',
    centre: 'center',
    favour: 'favor',
    fulfil: 'fulfill',
    fulfilment: 'fulfillment',
    judgement: 'judgment',
    labour: 'labor',
    modelling: 'modeling',
    offence: 'offense',
    organisation: 'organization',
    organisations: 'organizations',
    practise: 'practice',
    programme: 'program',
    recognise: 'recognize',
    utilisation: 'utilization',
    whilst: 'while',
    wilful: 'willful',
    https: 'http',
  }),
);

/** Word pairs the list treats as one word ("sub-license", "non-commercial"). */
const JOINED = new Map<string, string>(
  Object.entries({
    'sub license': 'sublicense',
    'sub licenses': 'sublicenses',
    'non commercial': 'noncommercial',
    'copyright owner': 'copyrightholder',
    'copyright owners': 'copyrightholder',
    'copyright holders': 'copyrightholder',
    'copyright holder': 'copyrightholder',
  }),
);

const JOIN_FIRST = new Set([...JOINED.keys()].map((k) => k.split(' ')[0]!));

/**
 * A copyright notice (B.11): "Copyright" with a year, (c), ©, a placeholder,
 * "by" or a capitalised name, a lone ©, or "All rights reserved.". Only short
 * lines: a long line that begins so is license text, and is compared; so is a
 * wrapped line such as "copyright and similar rights".
 */
const COPYRIGHT_LINE =
  /^\s*([Cc]opyright\s*(\(c\)|\(C\)|©|[0-9]{4}|<|\[|by\s|[A-Z])|COPYRIGHT\s*(\(C\)|©|[0-9]{4})|\([cC]\)\s*[0-9]{4}|©|[Aa]ll [Rr]ights [Rr]eserved\.?\s*$)/;
const MAX_COPYRIGHT_WORDS = 24;

/**
 * A bullet or a number heading a line (B.8): "1.", "1.1.", "a)", "iv.", "*",
 * "•", "-". A parenthesised "(4)" is kept: wrapped text puts references such
 * as "Section 2(a)\n(4)" at the head of a line too.
 */
const BULLET = /^\s*(([0-9]{1,2}(\.[0-9]{1,2})*|[a-z]|[ivx]{2,4})[.)]|[*•·-])\s+/gim;

/** Words of terms, not of a notice: a "copyright line" that has one is compared, not dropped. */
const TERMS =
  /\b(may|must|not|shall|use|used|license[ds]?|licen[cs]e|permission|permitted|prohibited|except|only|commercial|provided|grant(ed)?|rights? to)\b/i;

export function isCopyrightLine(line: string): boolean {
  return (
    COPYRIGHT_LINE.test(line) &&
    line.trim().split(/\s+/).length <= MAX_COPYRIGHT_WORDS &&
    !TERMS.test(line.replace(/all rights reserved\.?/i, ''))
  );
}

/** The lines of a text, copyright notices left out. */
export function textLines(text: string): string[] {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .filter((l) => !isCopyrightLine(l));
}

/**
 * The words of a text. In a reference text (`reference`), a <placeholder>
 * becomes the marker word "\u0001" (a variable part); in a text to identify,
 * angle brackets are punctuation like any other.
 */
export function words(text: string, reference = false): string[] {
  let s = text
    .replace(BULLET, ' ')
    .toLowerCase()
    // A URL in angle brackets is text ("<https://www.gnu.org/ licenses /…>" too), not a placeholder.
    .replace(/<([^<>]*(:\/\/|www\.)[^<>]*)>/g, ' $1 ');
  if (reference) s = s.replace(/<[^<>]{1,120}>/g, ' \u0001 ');
  s = s
    .replace(/[^a-z0-9\u0001\s]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!s) return [];
  const out: string[] = [];
  for (const w of s.split(' ')) {
    const word = EQUIVALENT.get(w) ?? w;
    const last = out.length ? out[out.length - 1]! : '';
    const joined = JOIN_FIRST.has(last) ? JOINED.get(`${last} ${word}`) : undefined;
    if (joined) out[out.length - 1] = joined;
    else out.push(word);
  }
  return out;
}

/** The words of a text once its copyright notices are left out. */
export function normalise(text: string, reference = false): string[] {
  return words(textLines(text).join('\n'), reference);
}
