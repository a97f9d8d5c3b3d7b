import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { isModgateError } from '../../src/errors.js';
import { hashZipFile, verifyModuleZip, MAX_ENTRIES } from '../../src/integrity/zip.js';
import { zipFs } from '../../src/integrity/zip-read.js';
import { entry, Rng, serialize, tinyZip, type GenEntry, type GenZip } from './zipgen.js';
import { testdir } from '../helpers/testdir.js';

// tap starts every test with --expose-gc (package.json "node-arg"): setting the
// flag at run time instead can crash V8 (SIGSEGV seen under coverage).
const exposed = (globalThis as { gc?: () => void }).gc;
if (!exposed) throw new Error('run with node --expose-gc (tap does, from package.json)');
const gc: () => void = exposed;

const mod = { path: 'example.com/bomb', version: 'v1.0.0' };
const P = `${mod.path}@${mod.version}/`;
const MiB = 1 << 20;

/** A raw deflate stream of `mib` MiB of zeros, about 1 KiB per MiB: one block repeated. */
function zeros(mib: number): Buffer {
  const block = deflateRawSync(Buffer.alloc(MiB), { finishFlush: constants.Z_SYNC_FLUSH });
  return Buffer.concat([...Array<Buffer>(mib).fill(block), Buffer.from([3, 0])]);
}

/** An entry whose headers declare `declared` bytes while its deflate data holds `mib` MiB. */
function bomb(name: string, mib: number, declared: number, r: Rng): GenEntry {
  const e = entry(Buffer.from(P + name), Buffer.alloc(0), r);
  e.method = e.local.method = 8;
  e.flags = e.local.flags = 0;
  delete e.descriptor;
  e.stored = zeros(mib);
  e.csize = e.local.csize = e.stored.length;
  e.usize = e.local.usize = declared;
  e.crc = e.local.crc = crc32(Buffer.alloc(Math.min(declared, mib * MiB))) >>> 0;
  return e;
}

function zipOf(entries: GenEntry[]): Buffer {
  const z: GenZip = { mod, entries, comment: Buffer.alloc(0), prepend: Buffer.alloc(0) };
  if (entries.length >= 0xffff) z.zip64 = { saturate: true };
  return serialize(z);
}

async function outcome(
  file: string,
  opts = {},
): Promise<{ code?: string; details?: Record<string, unknown>; produced: number }> {
  let produced = 0;
  try {
    await verifyModuleZip(file, mod, { ...opts, onInflated: (n) => (produced += n) });
    return { produced };
  } catch (err) {
    if (!isModgateError(err)) throw err;
    return { code: err.code, details: err.details, produced };
  }
}

t.test('a go.mod bomb stops at its declared size, while inflating', async (t) => {
  const dir = testdir(t);
  const r = new Rng(1);
  for (const [mib, declared] of [
    [64, 100],
    [512, 16 * MiB],
  ] as const) {
    const file = path.join(dir, `gomod-${mib}.zip`);
    await writeFile(file, zipOf([bomb('go.mod', mib, declared, r)]));
    const got = await outcome(file);
    t.equal(got.code, 'ZIP_INVALID', `${mib} MiB go.mod declared as ${declared} bytes`);
    t.ok(got.produced <= declared + MiB, `inflated ${got.produced} bytes, not ${mib} MiB`);
    t.ok((got.details?.produced as number) <= declared + MiB + 1);
  }
  const big = path.join(dir, 'gomod-declared-big.zip');
  await writeFile(big, zipOf([bomb('go.mod', 1, 16 * MiB + 1, r)]));
  const got = await outcome(big);
  t.equal(got.code, 'ZIP_FILE_TOO_LARGE', 'a go.mod declared over 16 MiB');
  t.equal(got.produced, 0, 'is refused before anything is inflated');
});

t.test('a file bomb (1 KiB compressed per MiB) stops at its declared size', async (t) => {
  const dir = testdir(t);
  const r = new Rng(2);
  const file = path.join(dir, 'file.zip');
  await writeFile(file, zipOf([bomb('a.go', 1024, 1000, r), bomb('b.go', 300, 100 * MiB, r)]));
  const got = await outcome(file);
  t.equal(got.code, 'ZIP_INVALID');
  t.match(String(got.details?.name), /a\.go$/, 'the first overrunning entry is named');
  t.ok(got.produced < 200 * MiB, `inflated ${got.produced} bytes, not the 1.3 GiB inside`);
  const total = path.join(dir, 'total.zip');
  const six = [0, 1, 2, 3, 4, 5].map((k) => bomb(`f${k}.go`, 1, 100 * MiB, r));
  await writeFile(total, zipOf(six));
  const over = await outcome(total);
  t.equal(over.code, 'ZIP_UNCOMPRESSED_TOO_LARGE', 'declared total over 500 MiB');
  t.equal(over.produced, 0, 'refused before inflating');
});

/** Writes tiny(n) to a file, keeping no reference to it (the memory test measures live memory). */
async function writeTiny(file: string, n: number): Promise<number> {
  const zip = tinyZip(P, n);
  await writeFile(file, zip);
  return zip.length;
}

/** Counts opens and bytes read through the reader's file system seam. */
function countFs(t: Test): { opens: number; reads: number; bytes: number } {
  const c = { opens: 0, reads: 0, bytes: 0 };
  const real = zipFs.open;
  zipFs.open = async (file: string): Promise<FileHandle> => {
    c.opens++;
    const fh = await real(file);
    const read = fh.read.bind(fh) as (...a: unknown[]) => Promise<{ bytesRead: number }>;
    (fh as unknown as { read: typeof read }).read = async (...a: unknown[]) => {
      const res = await read(...a);
      c.reads++;
      c.bytes += res.bytesRead;
      return res;
    };
    return fh;
  };
  t.teardown(() => void (zipFs.open = real));
  return c;
}

t.test(
  'many tiny entries: over the entry cap is refused before the directory is read',
  async (t) => {
    const file = path.join(testdir(t), 'many.zip');
    const size = await writeTiny(file, MAX_ENTRIES + 1);
    const c = countFs(t);
    const got = await outcome(file);
    t.equal(got.code, 'ZIP_TOO_MANY_FILES');
    t.equal(got.produced, 0);
    t.ok(c.bytes < 128 << 10, `read ${c.bytes} of ${size} bytes`);
  },
);

t.test(
  'many tiny entries at the cap: verified in bounded memory, one open, few reads',
  async (t) => {
    const file = path.join(testdir(t), 'cap.zip');
    await writeTiny(file, MAX_ENTRIES);
    await new Promise((r) => setImmediate(r));
    gc();
    const base = process.memoryUsage();
    let peak = 0;
    let k = 0;
    const c = countFs(t);
    const rep = await verifyModuleZip(file, mod, {
      onInflated: () => {
        // Live memory (after a collection) at points through the run.
        if (++k % 20000 !== 0) return;
        gc();
        const m = process.memoryUsage();
        peak = Math.max(peak, m.heapUsed + m.arrayBuffers - base.heapUsed - base.arrayBuffers);
        t.comment(
          `at ${k}: heap ${(m.heapUsed / MiB).toFixed(1)} MiB, buffers ${(m.arrayBuffers / MiB).toFixed(1)} MiB`,
        );
      },
    });
    t.equal(rep.fileCount, MAX_ENTRIES);
    t.ok(k >= MAX_ENTRIES, 'every entry inflated');
    t.ok(peak < 32 * MiB, `live extra memory ${(peak / MiB).toFixed(1)} MiB`);
    t.equal(c.opens, 1, 'the zip is opened once, not once per entry');
    t.ok(c.reads < MAX_ENTRIES / 100, `${c.reads} reads for ${MAX_ENTRIES} entries`);
    const small = path.join(testdir(t), 'small.zip');
    await writeTiny(small, 500);
    const c2 = countFs(t);
    t.equal(await hashZipFile(small), (await verifyModuleZip(small, mod)).h1);
    t.equal(c2.opens, 2, 'hashZipFile and verifyModuleZip open it once each');
  },
);

t.test('long and deep paths are bounded', async (t) => {
  const dir = testdir(t);
  const r = new Rng(4);
  const long = path.join(dir, 'long.zip');
  await writeFile(
    long,
    zipOf([entry(Buffer.from(`${P}${'a/'.repeat(2100)}x.go`), Buffer.from('x'), r)]),
  );
  t.equal((await outcome(long)).code, 'ZIP_PATH_INVALID', 'a path over 4096 bytes');
  const deep = path.join(dir, 'deep.zip');
  const es = Array.from({ length: 50 }, (_, i) =>
    entry(Buffer.from(`${P}r${i}/${'b/'.repeat(40)}x.go`), Buffer.from('x'), r),
  );
  await writeFile(deep, zipOf(es));
  t.equal(
    (await outcome(deep, { maxFiles: 500 })).code,
    'ZIP_TOO_MANY_FILES',
    'distinct paths over twice the entry cap',
  );
  t.equal(
    (await outcome(deep, { maxFiles: 5000 })).code,
    undefined,
    'the same zip under a larger cap',
  );
});
