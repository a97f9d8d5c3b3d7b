/**
 * Identification across the licenses Go modules carry, from real texts: the
 * reference texts of spdx-license-list, the vulnerability database's own
 * CC-BY-4.0 LICENSE (title and body only, without the notices the reference
 * text adds), the fixture modules' files, and license files of the packages
 * this project depends on. Each also edited (one word changed, a sentence
 * deleted, a clause added): an edited text is never the original license.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import t, { type Test } from 'tap';
import { identifyText } from '../../src/license/identify.js';
import { normalise } from '../../src/license/normalise.js';
import { td } from '../helpers/testdata.js';

const require = createRequire(import.meta.url);
const FULL = require('spdx-license-list/full') as Record<string, { licenseText: string }>;

const IDS = [
  'MIT',
  'BSD-2-Clause',
  'BSD-3-Clause',
  'Apache-2.0',
  'MPL-2.0',
  'ISC',
  'GPL-2.0-only',
  'GPL-3.0-only',
  'LGPL-2.1-only',
  'LGPL-3.0-only',
  'AGPL-3.0-only',
  'CC-BY-4.0',
  'CC0-1.0',
  'Unlicense',
  '0BSD',
];

/** Real license files beside this project (path, SPDX id). */
const REAL: Array<[string, string]> = [
  [td('vulndb', 'LICENSE'), 'CC-BY-4.0'],
  [td('LICENSE-go'), 'BSD-3-Clause'],
  [path.join('node_modules', 'fastify', 'LICENSE'), 'MIT'],
  [path.join('node_modules', 'tslib', 'LICENSE.txt'), '0BSD'],
  [path.join('node_modules', '@aws-sdk', 'client-s3', 'LICENSE'), 'Apache-2.0'],
  [path.join('node_modules', 'espree', 'LICENSE'), 'BSD-2-Clause'],
  [path.join('node_modules', 'istanbul-lib-coverage', 'LICENSE'), 'BSD-3-Clause'],
  [path.join('node_modules', '@isaacs', 'fs-minipass', 'LICENSE'), 'ISC'],
  // CC0-1.0 without the notice before the dedication, under a title of its own.
  [path.join('node_modules', 'spdx-license-list', 'license'), 'CC0-1.0'],
];

/** A long sentence well inside the body (not the title, a notice or an optional part). */
function bodySentence(text: string): string {
  const sentences = text.split(/(?<=[.;:])\s+/).filter((s) => s.split(/\s+/).length >= 8);
  return sentences[Math.floor(sentences.length / 2)]!;
}

/** The same text with one word of that sentence replaced by another real word. */
function changeWord(text: string): string {
  const s = bodySentence(text);
  const ws = s.split(/(\s+)/);
  const i = ws.findIndex((w, k) => k >= ws.length / 3 && /^[A-Za-z]{3,}$/.test(w));
  const to = ws[i]!.toLowerCase() === 'not' ? 'also' : 'not';
  ws[i] = to;
  return text.replace(s, ws.join(''));
}

const edits: Array<[string, (text: string) => string]> = [
  ['one word changed', changeWord],
  ['a sentence deleted', (text) => text.replace(bodySentence(text), '')],
  [
    'a clause added',
    (text) => {
      const s = bodySentence(text);
      return text.replace(s, `${s} This license does not apply to commercial use.`);
    },
  ],
  ['a clause appended', (text) => `${text}\n\nYou may not use this software for commercial use.\n`],
  ['a first line added', (text) => `Non-commercial use only.\n\n${text}`],
];

/** An edited text is not the original; none is any license, but BSD-3-Clause less its third clause. */
function notOriginal(t: Test, edited: string, id: string, msg: string, what: string): void {
  const got = identifyText(edited);
  t.not(got, id, `${msg} is not ${id}`);
  if (id === 'BSD-3-Clause' && what === 'a sentence deleted')
    t.ok(got === undefined || got === 'BSD-2-Clause');
  else t.equal(got, undefined, `${msg} is no license`);
}

t.test('the reference texts are identified, and their edits are not', async (t) => {
  for (const id of IDS) {
    const text = FULL[id]!.licenseText;
    t.equal(identifyText(text), id, `${id}: its reference text`);
    const rewrapped = text.replace(/[ \t]+/g, '  ').replace(/\n/g, '\r\n');
    t.equal(identifyText(rewrapped), id, `${id}: other whitespace and CRLF`);
    for (const [what, edit] of edits) {
      const edited = edit(text);
      t.not(normalise(edited).join(' '), normalise(text).join(' '), `${id}: ${what} is an edit`);
      notOriginal(t, edited, id, `${id}: ${what}`, what);
    }
  }
});

t.test('real license files are identified, and their edits are not', async (t) => {
  for (const [file, id] of REAL) {
    const text = await readFile(file, 'utf8');
    t.equal(identifyText(text), id, `${file} is ${id}`);
    for (const [what, edit] of edits) notOriginal(t, edit(text), id, `${file}: ${what}`, what);
  }
});

t.test('what the matching guidelines forgive, and no more', async (t) => {
  const cc = await readFile(td('vulndb', 'LICENSE'), 'utf8');
  // The reference's optional notices, before and after the license, may be there or not.
  const ref = FULL['CC-BY-4.0']!.licenseText;
  const notice = ref.slice(0, ref.indexOf('Creative Commons Attribution 4.0 International Public'));
  t.equal(identifyText(`${notice}\n${cc}`), 'CC-BY-4.0', 'with the notice before it');
  t.equal(identifyText(cc.replace(/--/g, '–').replace(/"/g, '“')), 'CC-BY-4.0', 'dashes, quotes');
  t.equal(
    identifyText(cc.replace('Section 8 -- Interpretation.', 'Section 8 -- Interpretation')),
    'CC-BY-4.0',
    'punctuation',
  );
  t.equal(
    identifyText(cc.replace('Section 8 --', 'Section 9 --')),
    undefined,
    'a number is a word',
  );
  t.equal(identifyText(cc.replace('Licensor', 'Licensee')), undefined, 'licensor is not licensee');
  const mit = FULL.MIT!.licenseText;
  t.equal(identifyText(`The MIT License (MIT)\n\n${mit.replace(/^MIT License/, '')}`), 'MIT');
  t.equal(identifyText(mit.replace('<year> <copyright holders>', '2024 Jane Doe')), 'MIT');
  t.equal(
    identifyText(mit.replace('<year> <copyright holders>', '2024 Jane Doe; no commercial use')),
    undefined,
    'terms in a copyright line are compared, not dropped with it',
  );
  t.equal(identifyText(mit.replace(/^MIT License/, 'The MIT Licence')), 'MIT', 'licence');
  t.equal(
    identifyText(mit.replace(/^MIT License/, 'Non-commercial License')),
    undefined,
    'a title naming other terms is not dropped',
  );
  const apache = FULL['Apache-2.0']!.licenseText;
  const body = apache.slice(0, apache.indexOf('APPENDIX'));
  t.equal(identifyText(body), 'Apache-2.0', 'without the optional appendix');
  t.equal(identifyText(body.replace('http://', 'https://')), 'Apache-2.0', 'https');
  t.equal(
    identifyText(`${body}\nEND OF TERMS AND CONDITIONS\nNo use in weapons.`),
    undefined,
    'an added term after the end is no license',
  );
  const gpl = FULL['GPL-2.0-only']!.licenseText;
  t.equal(
    identifyText(gpl.replace(/51 Franklin Street.*USA/, '59 Temple Place, Suite 330, Boston, MA')),
    'GPL-2.0-only',
    'the FSF address of older copies',
  );
  t.equal(identifyText(gpl.replace('Version 2, June', 'Version 3, June')), undefined);
  t.equal(identifyText(''), undefined);
  t.equal(identifyText('MIT License'), undefined, 'a name is not the text');
});
