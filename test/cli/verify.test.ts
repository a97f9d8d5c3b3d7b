import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { modgate } from '../helpers/cli.js';
import { makeModule } from '../helpers/fake-upstream.js';
import { startFakeSumdb } from '../helpers/fake-sumdb.js';
import { hashGoMod } from '../../src/integrity/dirhash.js';
import { hashZipFile } from '../../src/integrity/zip.js';
import { testdir } from '../helpers/testdir.js';

t.test('verify zip prints the h1 alone on the last line, or a coded error', async (t) => {
  const dir = testdir(t);
  const m = await makeModule('example.com/Upper', 'v1.2.3', { 'a.go': 'package a\n' });
  const file = path.join(dir, 'm.zip');
  await writeFile(file, m.zip);
  const ok = await modgate([
    'verify',
    'zip',
    file,
    '--module',
    'example.com/Upper',
    '--version',
    'v1.2.3',
  ]);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout.trim().split('\n').at(-1), await hashZipFile(file));
  const wrong = await modgate([
    'verify',
    'zip',
    file,
    '--module',
    'example.com/other',
    '--version',
    'v1.2.3',
  ]);
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /^error: ZIP_PATH_PREFIX: /m);
  const truncated = path.join(dir, 'cut.zip');
  await writeFile(truncated, m.zip.subarray(0, m.zip.length - 30));
  const cut = await modgate([
    'verify',
    'zip',
    truncated,
    '--module',
    'example.com/Upper',
    '--version',
    'v1.2.3',
  ]);
  t.equal(cut.code, 1);
  t.match(cut.stderr, /^error: ZIP_INVALID: /m);
});

t.test('verify mod prints the go.mod h1', async (t) => {
  const file = path.join(testdir(t), 'go.mod');
  await writeFile(file, 'module example.com/x\n');
  const r = await modgate(['verify', 'mod', file]);
  t.equal(r.code, 0);
  t.equal(r.stdout.trim(), hashGoMod('module example.com/x\n'));
  const missing = await modgate(['verify', 'mod', '/nonexistent/go.mod']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^error: FILE_UNREADABLE: /);
});

t.test('verify gosum checks every line against the checksum database', async (t) => {
  const good = {
    path: 'example.com/a',
    version: 'v1.0.0',
    h1: 'h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=',
    modH1: hashGoMod('module example.com/a\n'),
  };
  const db = await startFakeSumdb({ records: [good] });
  t.teardown(() => db.stop());
  const dir = testdir(t);
  const sum = path.join(dir, 'go.sum');
  await writeFile(
    sum,
    `example.com/a v1.0.0 ${good.h1}\nexample.com/a v1.0.0/go.mod ${good.modH1}\n`,
  );
  const env = { GOPROXY: 'off', GOSUMDB: '', GOPRIVATE: '', GONOSUMDB: '' };
  const spec = `${db.verifierKey} ${db.url}`;
  // The pinned client of `serve`: a plain-http database is refused unless the config allows it.
  const refused = await modgate(
    ['verify', 'gosum', sum, '--sumdb', spec, '--data', path.join(dir, 'data')],
    { env },
  );
  t.equal(refused.code, 1);
  t.match(refused.stderr, /UPSTREAM_INSECURE: refusing plain-http upstream/);
  t.equal(db.requests.length, 0, 'nothing reached the database');
  const config = path.join(dir, 'modgate.yaml');
  await writeFile(config, 'allowHttpUpstream: true\npinning: optional\n');
  const ok = await modgate(
    ['verify', 'gosum', sum, '--config', config, '--sumdb', spec, '--data', path.join(dir, 'data')],
    { env },
  );
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /2 lines: 2 verified, 0 failed/);
  await writeFile(sum, `example.com/a v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n`);
  const bad = await modgate(
    ['verify', 'gosum', sum, '--config', config, '--sumdb', spec, '--data', path.join(dir, 'data')],
    { env },
  );
  t.equal(bad.code, 1);
  t.match(bad.stderr, /SECURITY ERROR: example\.com\/a v1\.0\.0/);
});
