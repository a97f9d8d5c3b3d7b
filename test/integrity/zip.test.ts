import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { isModgateError } from '../../src/errors.js';
import { hash1 } from '../../src/integrity/dirhash.js';
import { checkZipEntries, cleanPath, strToFold, verifyModuleZip } from '../../src/integrity/zip.js';
import {
  findSignatures,
  makeZip,
  patchUncompressedSize,
  CENTRAL_HEADER,
  type ZipMember,
} from '../helpers/zipmaker.js';

const mod = { path: 'example.com/m', version: 'v1.0.0' };
const P = 'example.com/m@v1.0.0/';
let dir = '';
let n = 0;
t.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'modgate-zip-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function write(zip: Buffer): Promise<string> {
  const file = path.join(dir, `${n++}.zip`);
  await writeFile(file, zip);
  return file;
}
async function codeOf(zip: Buffer | ZipMember[], m = mod): Promise<string | undefined> {
  const file = await write(Buffer.isBuffer(zip) ? zip : await makeZip(zip));
  try {
    await verifyModuleZip(file, m);
    return undefined;
  } catch (err) {
    if (!isModgateError(err)) throw err;
    return err.code;
  }
}

t.test('a good zip: h1, counts, root go.mod', async (t) => {
  const files = {
    'go.mod': 'module example.com/m\n',
    'a.go': 'package a\n',
    'sub/b.go': 'package sub\n',
  };
  const zip = await makeZip([
    ...Object.entries(files).map(([k, v]) => ({ name: P + k, data: v })),
    { name: `${P}sub/` },
  ]);
  const file = await write(zip);
  const rep = await verifyModuleZip(file, mod, { keepGoMod: true });
  const want = hash1([
    ...Object.entries(files).map(([k, v]) => ({ name: P + k, data: v })),
    { name: `${P}sub/`, data: '' },
  ]);
  t.equal(rep.h1, want, 'directory entries are hashed as empty files, as HashZip does');
  t.equal(rep.fileCount, 3);
  t.equal(rep.uncompressedSize, Object.values(files).join('').length);
  t.equal(rep.zipSize, zip.length);
  t.equal(rep.goMod?.toString(), files['go.mod']);
  t.same(rep.warnings, []);
});

t.test('path attacks and collisions', async (t) => {
  t.equal(await codeOf([{ name: `${P}../evil.go`, data: 'x' }]), 'ZIP_PATH_INVALID', '../ escape');
  t.equal(await codeOf([{ name: `${P}a/../../../etc/passwd`, data: 'x' }]), 'ZIP_PATH_INVALID');
  t.equal(await codeOf([{ name: 'example.com/m@v1.0.0/../../x', data: 'x' }]), 'ZIP_PATH_INVALID');
  t.equal(await codeOf([{ name: '/etc/passwd', data: 'x' }]), 'ZIP_PATH_PREFIX', 'absolute path');
  t.equal(await codeOf([{ name: `${P}a\\b.go`, data: 'x' }]), 'ZIP_PATH_INVALID', 'backslash');
  t.equal(
    await codeOf([
      { name: Buffer.concat([Buffer.from(P), Buffer.from([0xff, 0x2e, 0x67, 0x6f])]), data: 'x' },
    ]),
    'ZIP_PATH_INVALID',
    'invalid UTF-8',
  );
  t.equal(await codeOf([{ name: `${P}a\nb.go`, data: 'x' }]), 'ZIP_PATH_INVALID', 'newline');
  t.equal(
    await codeOf([{ name: 'example.com/M@v1.0.0/a.go', data: 'x' }]),
    'ZIP_PATH_PREFIX',
    'prefix is case sensitive',
  );
  t.equal(
    await codeOf([{ name: 'example.com/m@v1.0.1/a.go', data: 'x' }]),
    'ZIP_PATH_PREFIX',
    'another version',
  );
  t.equal(
    await codeOf([
      { name: `${P}a.go`, data: 'x' },
      { name: `${P}A.go`, data: 'y' },
    ]),
    'ZIP_CASE_COLLISION',
  );
  t.equal(
    await codeOf([
      { name: `${P}k.go`, data: 'x' },
      { name: `${P}\u212a.go`, data: 'y' },
    ]),
    'ZIP_CASE_COLLISION',
    'Kelvin sign folds to k',
  );
  t.equal(
    await codeOf([
      { name: `${P}dir/a.go`, data: 'x' },
      { name: `${P}DIR/b.go`, data: 'y' },
    ]),
    'ZIP_CASE_COLLISION',
    'directories collide too',
  );
  t.equal(
    await codeOf([
      { name: `${P}a.go`, data: 'x' },
      { name: `${P}a.go`, data: 'y' },
    ]),
    'ZIP_DUPLICATE',
  );
  t.equal(await codeOf([{ name: `${P}sub/go.mod`, data: 'module x\n' }]), 'ZIP_GOMOD_NOT_ROOT');
  t.equal(await codeOf([{ name: `${P}Go.Mod`, data: 'module x\n' }]), 'ZIP_GOMOD_CASE');
  t.equal(
    await codeOf([{ name: `${P}a.go`, data: 'x' }]),
    undefined,
    'control: a clean zip passes',
  );
});

t.test('module path and version are checked first', async (t) => {
  t.equal(
    await codeOf([], { path: 'example.com/m', version: 'v1.0' }),
    'VERSION_INVALID',
    'not canonical',
  );
  t.equal(
    await codeOf([], { path: 'example.com/m', version: 'v2.0.0' }),
    'VERSION_INVALID',
    'major mismatch',
  );
  t.equal(await codeOf([], { path: 'nodot/m', version: 'v1.0.0' }), 'MODULE_PATH_INVALID');
  t.equal(
    await codeOf([{ name: 'example.com/m/v2@v2.0.0/a.go', data: 'x' }], {
      path: 'example.com/m/v2',
      version: 'v2.0.0',
    }),
    undefined,
  );
});

t.test('a central directory that lies about a size is caught while inflating (bomb)', async (t) => {
  const bomb = await makeZip([{ name: `${P}bomb.go`, data: Buffer.alloc(4 << 20) }]);
  t.ok(bomb.length < 16 << 10, 'highly compressed');
  t.equal(
    await codeOf(patchUncompressedSize(bomb, 100)),
    'ZIP_INVALID',
    'more bytes than declared',
  );
  const small = await makeZip([{ name: `${P}a.go`, data: 'package a\n' }]);
  t.equal(
    await codeOf(patchUncompressedSize(small, 5000)),
    'ZIP_INVALID',
    'fewer bytes than declared',
  );
  const stored = await makeZip([{ name: `${P}a.go`, data: 'package a\n', compress: false }]);
  t.equal(await codeOf(patchUncompressedSize(stored, 3)), 'ZIP_INVALID', 'stored entry');
  const huge = patchUncompressedSize(small, 500 * 1024 * 1024 + 1);
  t.equal(
    await codeOf(huge),
    'ZIP_UNCOMPRESSED_TOO_LARGE',
    'declared total over 500 MiB is refused before inflating',
  );
  const gomod = await makeZip([{ name: `${P}go.mod`, data: 'module example.com/m\n' }]);
  t.equal(await codeOf(patchUncompressedSize(gomod, (16 << 20) + 1)), 'ZIP_FILE_TOO_LARGE');
});

t.test('streamed entries (data descriptors) verify too', async (t) => {
  const data = Buffer.alloc(3 << 20, 'go');
  const zip = await makeZip([{ name: `${P}big.txt`, stream: Readable.from([data]) }]);
  t.not(
    zip.readUInt16LE(findSignatures(zip, CENTRAL_HEADER)[0]! + 8) & 8,
    0,
    'has a data descriptor',
  );
  const rep = await verifyModuleZip(await write(zip), mod);
  t.equal(rep.h1, hash1([{ name: `${P}big.txt`, data }]));
});

t.test('truncated and corrupted zips', async (t) => {
  const zip = await makeZip([
    { name: `${P}a.go`, data: 'package a\n'.repeat(200) },
    { name: `${P}b.go`, data: 'package b\n' },
  ]);
  t.equal(await codeOf(zip.subarray(0, zip.length - 10)), 'ZIP_INVALID', 'truncated end record');
  t.equal(await codeOf(zip.subarray(0, Math.floor(zip.length / 2))), 'ZIP_INVALID', 'cut in half');
  t.equal(await codeOf(Buffer.from('not a zip at all')), 'ZIP_INVALID');
  t.equal(await codeOf(Buffer.alloc(0)), 'ZIP_INVALID', 'empty file');
  const codes = new Set<string | undefined>();
  const dataStart = 30 + zip.readUInt16LE(26) + zip.readUInt16LE(28);
  for (const off of [0, 3, 7, 12].map((k) => dataStart + k)) {
    const bad = Buffer.from(zip);
    bad[off] = bad[off]! ^ 0x55;
    codes.add(await codeOf(bad));
  }
  t.notOk(codes.has(undefined), 'a flipped byte in compressed data never verifies');
  t.ok(
    [...codes].every((c) => c === 'ZIP_INVALID'),
    [...codes].join(),
  );
  const stored = await makeZip([{ name: `${P}a.go`, data: 'package a\n', compress: false }]);
  const i = stored.indexOf('package a');
  const flipped = Buffer.from(stored);
  flipped[i] = 0x50;
  t.equal(await codeOf(flipped), 'ZIP_INVALID', 'a flipped byte in stored data fails the CRC');
});

t.test('zip file size limit', async (t) => {
  const file = path.join(dir, 'big.zip');
  await writeFile(file, '');
  await (await import('node:fs/promises')).truncate(file, 500 * 1024 * 1024 + 1);
  await t.rejects(verifyModuleZip(file, mod), { code: 'ZIP_TOO_LARGE' });
  await rm(file);
});

t.test('maxFiles option', async (t) => {
  const zip = await makeZip([1, 2, 3].map((i) => ({ name: `${P}${i}.go`, data: 'x' })));
  await t.rejects(verifyModuleZip(await write(zip), mod, { maxFiles: 2 }), {
    code: 'ZIP_TOO_MANY_FILES',
  });
  t.equal((await verifyModuleZip(await write(zip), mod, { maxFiles: 3 })).fileCount, 3);
});

t.test('helpers: strToFold, cleanPath, checkZipEntries', async (t) => {
  t.equal(strToFold('ABC.go'), 'abc.go');
  t.equal(strToFold('\u212a'), 'k');
  t.equal(strToFold('\u017f'), 's', 'long s folds with s');
  t.not(strToFold('\u0131'), strToFold('i'), 'dotless i does not fold with i');
  t.equal(strToFold('\u03a3'), strToFold('\u03c2'), 'sigma forms fold together');
  t.equal(cleanPath('a/./b'), 'a/b');
  t.equal(cleanPath('a/../../b'), '../b');
  t.equal(cleanPath(''), '.');
  const cf = checkZipEntries(mod, [
    { name: `${P}a/`, size: 0 },
    { name: `${P}a`, size: 1 },
  ]);
  t.equal(cf.invalid[0]?.code, 'ZIP_FILE_DIR_CONFLICT');
  t.ok((await readFile(await write(await makeZip([])))).length > 0);
});
