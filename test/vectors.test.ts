import t from 'tap';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { conformance, repoRoot, testdataDir } from './helpers/testdata.js';
import { testdir } from './helpers/testdir.js';

const vectors = path.join(repoRoot, 'test', 'vectors');

t.test('the vectors are part of the project, with their sources and licenses', async (t) => {
  if (!process.env.MODGATE_TESTDATA) t.equal(testdataDir, vectors, 'read from test/vectors');
  const readme = await readFile(path.join(vectors, 'README.md'), 'utf8');
  for (const set of ['xmod', 'xmod-tables', 'sumdb', 'go', 'gosum', 'sumdb-real', 'vulndb']) {
    t.ok(existsSync(path.join(vectors, set)), `${set}/ is committed`);
    t.match(readme, new RegExp(`^\\| \`${set}/\` \\|.+\\|.+\\|.+\\|$`, 'm'), `${set}/ has a row`);
  }
  t.match(await readFile(path.join(vectors, 'LICENSE-go'), 'utf8'), /Copyright .* The Go Authors/);
  t.match(await readFile(path.join(vectors, 'vulndb', 'LICENSE'), 'utf8'), /Attribution 4\.0/);
});

t.test('a conformance suite without vectors fails instead of skipping', async (t) => {
  const failures: string[] = [];
  const fake = { fail: (m: string) => failures.push(m) } as unknown as Parameters<
    typeof conformance
  >[0];
  const missing = path.join(testdir(t), 'none');
  t.throws(() => conformance(fake, missing), /conformance vectors not found/);
  t.equal(failures.length, 1, 'the suite records a failure');
  t.match(failures[0], missing);
  t.equal(conformance(fake, vectors), true);
});
