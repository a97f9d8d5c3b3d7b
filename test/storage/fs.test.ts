import t from 'tap';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FsBlobStore } from '../../src/storage/fs.js';
import { blobStoreContract, failingBody } from './contract.js';
import { testdir } from '../helpers/testdir.js';

blobStoreContract(t, async () => new FsBlobStore(testdir(t)), { streams: true, movesFiles: true });

t.test('an unwritable root fails check with STORAGE_UNAVAILABLE', async (t) => {
  const dir = path.join(testdir(t), 'ro');
  await mkdir(dir);
  // root ignores permission bits, so root the store under a regular file instead
  await writeFile(path.join(dir, 'file-not-dir'), 'x');
  const s = new FsBlobStore(path.join(dir, 'file-not-dir'));
  await t.rejects(s.check(), { code: 'STORAGE_UNAVAILABLE', details: { engine: 'fs' } });
  await t.rejects(s.put('a', Readable.from(['x'])), { code: 'STORAGE_UNAVAILABLE' });
});

t.test('a failed put leaves no temp file behind; clearTemp removes a crash leftover', async (t) => {
  const root = testdir(t);
  const s = new FsBlobStore(root);
  await t.rejects(s.put('x/y.zip', failingBody(1024)));
  t.same(await readdir(path.join(root, '.tmp')), [], 'the temp file went with the failure');
  await writeFile(path.join(root, '.tmp', 'crash.tmp'), 'half');
  t.equal(await s.clearTemp(), 1);
  t.same(await s.list(''), [], 'temp files are never listed');
});

t.test('putFile on the same file system renames: the stored file is the one written', async (t) => {
  const root = testdir(t);
  const s = new FsBlobStore(path.join(root, 'store'));
  const file = path.join(root, 'spooled.zip');
  await writeFile(file, 'verified');
  const { ino } = await stat(file);
  await s.putFile('r/a.zip', file, { size: 8 });
  t.equal((await stat(path.join(root, 'store', 'r/a.zip'))).ino, ino, 'no copy was made');
  t.equal((await s.getBytes('r/a.zip'))?.toString(), 'verified');
});
