import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FsBlobStore } from '../../src/storage/fs.js';
import { blobStoreContract } from './contract.js';

blobStoreContract(t, async () => new FsBlobStore(t.testdir()));

t.test('an unwritable root fails check with STORAGE_UNAVAILABLE', async (t) => {
  const dir = path.join(t.testdir(), 'ro');
  await mkdir(dir);
  // root ignores permission bits, so root the store under a regular file instead
  await writeFile(path.join(dir, 'file-not-dir'), 'x');
  const s = new FsBlobStore(path.join(dir, 'file-not-dir'));
  await t.rejects(s.check(), { code: 'STORAGE_UNAVAILABLE' });
});
