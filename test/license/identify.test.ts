/**
 * License identification against real license files: the module zips of
 * test/vectors/gosum (rebuilt real modules) and the Go LICENSE, and edited
 * variants of them: a changed, added or dropped word is not the license.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { isLicenseFile } from '../../src/license/files.js';
import { identifyText } from '../../src/license/identify.js';
import { expressionAllowed, licensesOf, scanZipLicenses } from '../../src/license/scan.js';
import { td } from '../helpers/testdata.js';

const zips: Array<[string, string, string, string]> = [
  [
    'golang.org/x/xerrors',
    'v0.0.0-20231012003039-104605ab7028',
    'golang.org/x/xerrors',
    'BSD-3-Clause',
  ],
  ['golang.org/x/sync', 'v0.10.0', 'golang.org/x/sync', 'BSD-3-Clause'],
  ['github.com/BurntSushi/toml', 'v0.3.1', 'github.com/!burnt!sushi/toml', 'MIT'],
  ['github.com/davecgh/go-spew', 'v1.1.1', 'github.com/davecgh/go-spew', 'ISC'],
  ['github.com/google/uuid', 'v1.6.0', 'github.com/google/uuid', 'BSD-3-Clause'],
  ['github.com/pkg/errors', 'v0.9.1', 'github.com/pkg/errors', 'BSD-2-Clause'],
  ['rsc.io/quote', 'v1.5.2', 'rsc.io/quote', 'BSD-3-Clause'],
];

t.test('real module zips: root license files identified as pkg.go.dev lists them', async (t) => {
  for (const [mod, v, esc, want] of zips) {
    const facts = await scanZipLicenses(td('gosum', 'proxy', esc, '@v', `${v}.zip`), mod, v);
    t.equal(facts.expression, want, `${mod}@${v} is ${want}`);
    t.equal(facts.unknown, false);
    t.ok(
      facts.files.every((f) => !f.path.includes('/')),
      'root files only (cmd/*/COPYING is not the module license)',
    );
  }
});

t.test('license file names: the pkg.go.dev list, any case, root only', async (t) => {
  for (const n of [
    'LICENSE',
    'license.md',
    'COPYING',
    'LICENCE.txt',
    'LICENSE-APACHE',
    'MIT-LICENSE.txt',
    'UNLICENSE',
  ])
    t.ok(isLicenseFile(n), n);
  for (const n of ['LICENSE.go', 'docs/LICENSE', 'README', 'LICENSES', 'COPYRIGHT'])
    t.notOk(isLicenseFile(n), n);
});

t.test('edited texts are not the original license', async (t) => {
  const go = await readFile(td('LICENSE-go'), 'utf8');
  t.equal(identifyText(go), 'BSD-3-Clause', 'the Go LICENSE is BSD-3-Clause');
  t.equal(
    identifyText(go.replace('Copyright 2009', 'Copyright 2024')),
    'BSD-3-Clause',
    'the copyright line is free',
  );
  const edits: Array<[string, string]> = [
    [go.replace('MERCHANTABILITY', 'MERCHANTIBILITY'), 'a misspelt word'],
    [go.replace('with or without', 'with'), 'words dropped'],
    [
      go.replace('are permitted provided', 'are permitted for non-commercial use provided'),
      'words added',
    ],
    [go.replace('IN NO EVENT', 'IN ANY EVENT'), 'one word changed'],
    [go.replace(/THIS SOFTWARE IS PROVIDED[\s\S]*$/, ''), 'the disclaimer removed'],
  ];
  for (const [text, what] of edits) t.not(identifyText(text), 'BSD-3-Clause', what);
  // Answers are remembered by the exact text: asked again, each answer is the same.
  for (const [text, what] of edits) t.not(identifyText(text), 'BSD-3-Clause', `${what}, again`);
  t.equal(identifyText(go), 'BSD-3-Clause', 'the original, again');
  t.equal(identifyText(`${go} `), 'BSD-3-Clause', 'a byte more of white space: the same license');
  const mitZip = td('gosum', 'proxy', 'github.com', 'davecgh', 'go-spew', '@v', 'v1.1.1.zip');
  t.ok(mitZip);
  const isc = (await scanZipLicenses(mitZip, 'github.com/davecgh/go-spew', 'v1.1.1')).files[0]!;
  t.equal(isc.spdx, 'ISC');
});

t.test('expressions: AND of files, unknown when a file or the license is missing', async (t) => {
  const go = await readFile(td('LICENSE-go'), 'utf8');
  t.same(licensesOf([]), { files: [], expression: '', unknown: true });
  const two = licensesOf([
    { path: 'LICENSE', text: go },
    {
      path: 'LICENSE-MIT',
      text: await readFile(path.join('node_modules', 'fastify', 'LICENSE'), 'utf8'),
    },
  ]);
  t.equal(two.expression, 'BSD-3-Clause AND MIT');
  const odd = licensesOf([{ path: 'LICENSE', text: 'You may do anything except sell it.' }]);
  t.equal(odd.unknown, true);
  t.equal(odd.expression, '');
  t.ok(expressionAllowed('BSD-3-Clause AND MIT', ['MIT', 'BSD-3-Clause']));
  t.notOk(expressionAllowed('BSD-3-Clause AND GPL-3.0-only', ['MIT', 'BSD-3-Clause']));
  t.ok(expressionAllowed('GPL-3.0-only OR MIT', ['MIT']));
  t.notOk(expressionAllowed('((( not an expression', ['MIT']));
  t.notOk(expressionAllowed('', ['MIT']));
});
