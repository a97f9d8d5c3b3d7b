import type { Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import type { BlobStore } from '../../src/storage/types.js';

/** The contract every BlobStore backend must pass (fs today, S3 later). */
export function blobStoreContract(t: Test, make: () => Promise<BlobStore>): void {
  t.test('absent keys read as null', async (t) => {
    const s = await make();
    t.equal(await s.stat('a/b.zip'), null);
    t.equal(await s.getBytes('a/b.zip'), null);
    t.equal(await s.createReadStream('a/b.zip'), null);
  });

  t.test('putBytes then read back, whole and by range', async (t) => {
    const s = await make();
    await s.putBytes('m/@v/v1.0.0.mod', 'module m\n');
    t.equal((await s.getBytes('m/@v/v1.0.0.mod'))?.toString(), 'module m\n');
    t.equal((await s.stat('m/@v/v1.0.0.mod'))?.size, 9);
    const r = await s.createReadStream('m/@v/v1.0.0.mod', { start: 2, end: 5 });
    t.equal(await text(r!), 'dule');
  });

  t.test('putFile moves a finished temp file in; replacing is atomic', async (t) => {
    const s = await make();
    const tmp = path.join(await s.tempDir(), 'x.tmp');
    await writeFile(tmp, 'first');
    await s.putFile('k/blob', tmp);
    t.equal((await s.getBytes('k/blob'))?.toString(), 'first');
    await s.putBytes('k/blob', 'second');
    t.equal((await s.getBytes('k/blob'))?.toString(), 'second');
    await s.delete('k/blob');
    t.equal(await s.stat('k/blob'), null);
  });

  t.test('unsafe keys are refused with a code', async (t) => {
    const s = await make();
    for (const key of ['../etc/passwd', 'a/../../b', '/abs', 'a//b', 'sp ace', 'a/./b']) {
      await t.rejects(s.putBytes(key, 'x'), { code: 'STORAGE_BAD_KEY' }, key);
    }
  });

  t.test('check succeeds on a writable store', async (t) => {
    const s = await make();
    await t.resolves(s.check());
  });
}
