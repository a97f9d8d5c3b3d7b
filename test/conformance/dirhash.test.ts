import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hash1, hashGoMod } from '../../src/integrity/dirhash.js';
import { hashZipFile } from '../../src/integrity/zip.js';
import { conformance, readJson } from '../helpers/testdata.js';

interface Hash1Case {
  desc: string;
  err: string | null;
  files: Array<{ name: string; data: string }> | null;
  h1: string;
}

t.test('dirhash.json', async (t) => {
  conformance(t);
  const d = await readJson<{ hash1: Hash1Case[]; hashDir: any; hashZip: any }>(
    'xmod-tables',
    'dirhash.json',
  );
  for (const c of d.hash1) {
    const files = c.files ?? [];
    if (c.err) {
      t.throws(() => hash1(files), { code: 'HASH_NAME_INVALID', message: c.err }, c.desc);
      continue;
    }
    t.equal(hash1(files), c.h1, c.desc);
    if (files.length === 1 && files[0]!.name === 'go.mod')
      t.equal(hashGoMod(Buffer.from(files[0]!.data)), c.h1, `hashGoMod: ${c.desc}`);
  }
  const dirFiles = Object.entries(d.hashDir.files as Record<string, string>).map(([k, v]) => ({
    name: `${d.hashDir.prefix}/${k}`,
    data: v,
  }));
  t.equal(hash1(dirFiles), d.hashDir.h1, 'HashDir');
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-dirhash-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const zipFile = path.join(dir, 'x.zip');
  await writeFile(zipFile, Buffer.from(d.hashZip.zipBase64, 'base64'));
  t.equal(
    await hashZipFile(zipFile),
    d.hashZip.h1,
    'HashZip over a Go-written zip with data descriptors',
  );
});
