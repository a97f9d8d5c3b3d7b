import t, { type Test } from 'tap';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { CachedBlobStore } from '../../src/storage/cached.js';
import { MemoryBlobStore } from '../../src/storage/memory.js';
import { S3BlobStore } from '../../src/storage/s3.js';
import { startVersitygw, type Versitygw } from '../helpers/versitygw.js';
import { blobStoreContract } from './contract.js';
import { testdir } from '../helpers/testdir.js';

const MiB = 1024 * 1024;
let gw: Versitygw;
let n = 0;

t.before(async () => {
  gw = await startVersitygw();
});
t.teardown(() => gw.close());

async function cachedS3(t: Test, maxBytes: number, dir = testdir(t)): Promise<CachedBlobStore> {
  const s3 = new S3BlobStore({
    bucket: gw.bucket,
    prefix: `c${++n}/`,
    region: gw.region,
    endpoint: gw.endpoint,
    forcePathStyle: true,
    partSizeBytes: 5 * MiB,
    uploadConcurrency: 2,
    credentials: gw.credentials,
  });
  const s = new CachedBlobStore(s3, { dir, maxBytes, cacheable: () => true });
  await s.init();
  t.teardown(() => s.close());
  return s;
}

blobStoreContract(t, () => cachedS3(t, 256 * MiB), { streams: true, writerBytes: 6 * MiB });

async function localFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), name);
      else out.push(name);
    }
  };
  await walk(dir, '');
  return out.sort();
}

t.test('a hot hit is served from the local copy while S3 is down', async (t) => {
  const inner = new MemoryBlobStore();
  const dir = testdir(t);
  const s = new CachedBlobStore(inner, { dir, maxBytes: MiB });
  await s.init();
  await s.put('cache/m/@v/v1.0.0.zip', Readable.from([Buffer.from('zip bytes')]));
  await s.putBytes('tofu/x.json', 'mutable');
  t.equal(await text((await s.openRead('cache/m/@v/v1.0.0.zip'))!), 'zip bytes', 'first read: S3');
  await s.settled();
  t.same(await localFiles(dir), ['cache/m/@v/v1.0.0.zip'], 'kept locally, whole, no temp');
  inner.down = true;
  t.equal((await s.stat('cache/m/@v/v1.0.0.zip'))?.size, 9);
  t.equal(await text((await s.openRead('cache/m/@v/v1.0.0.zip'))!), 'zip bytes');
  t.equal(await text((await s.openRead('cache/m/@v/v1.0.0.zip', { start: 4, end: 8 }))!), 'bytes');
  await t.rejects(
    s.getBytes('tofu/x.json'),
    { code: 'STORAGE_UNAVAILABLE' },
    'mutable keys are never cached',
  );
  await t.rejects(s.check(), { code: 'STORAGE_UNAVAILABLE' }, 'readiness is the remote store');
  inner.down = false;
  await s.delete('cache/m/@v/v1.0.0.zip');
  await s.settled();
  t.same(await localFiles(dir), [], 'delete removes the local copy too');
  t.equal(await s.stat('cache/m/@v/v1.0.0.zip'), null);
});

t.test('the local copy is bounded in bytes, least recently used goes first', async (t) => {
  const inner = new MemoryBlobStore();
  const dir = testdir(t);
  const s = new CachedBlobStore(inner, { dir, maxBytes: 10 * 1024 });
  await s.init();
  const blob = (c: string) => Buffer.alloc(4 * 1024, c);
  for (const k of ['a', 'b', 'c', 'huge']) {
    await s.putBytes(`cache/${k}`, k === 'huge' ? Buffer.alloc(11 * 1024) : blob(k));
  }
  await s.getBytes('cache/a');
  await s.getBytes('cache/b');
  await s.getBytes('cache/a'); // b is now the least recently used
  await s.getBytes('cache/c');
  await s.getBytes('cache/huge');
  await s.settled();
  t.same(await localFiles(dir), ['cache/a', 'cache/c'], 'b evicted, huge never kept');
  t.ok(s.bytes <= 10 * 1024, `${s.bytes} bytes kept`);
  inner.down = true;
  t.ok((await s.getBytes('cache/a'))?.equals(blob('a')), 'a from the local copy');
  await t.rejects(s.getBytes('cache/b'), { code: 'STORAGE_UNAVAILABLE' }, 'b needs S3 again');
});

t.test('after a restart the local copies are found again (on real S3)', async (t) => {
  const dir = testdir(t);
  const first = await cachedS3(t, 64 * MiB, dir);
  await first.putBytes('cache/k', 'kept');
  t.equal((await first.getBytes('cache/k'))?.toString(), 'kept');
  await first.settled();
  const again = new CachedBlobStore(first.inner, { dir, maxBytes: 64 * MiB });
  await again.init();
  await gw.stop();
  try {
    t.equal((await again.getBytes('cache/k'))?.toString(), 'kept', 'served without S3');
    await t.rejects(again.getBytes('cache/other'), { code: 'STORAGE_UNAVAILABLE' });
  } finally {
    await gw.start();
  }
});

t.test('a read given up half way keeps no local copy', async (t) => {
  const inner = new MemoryBlobStore();
  const dir = testdir(t);
  const s = new CachedBlobStore(inner, { dir, maxBytes: 64 * MiB });
  await s.init();
  const chunks = Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024, 1));
  await s.put('cache/big', Readable.from(chunks));
  const r = (await s.openRead('cache/big'))!;
  for await (const _chunk of r) break; // the client went away
  await s.settled();
  t.same(await localFiles(dir), [], 'neither a partial copy nor a temp file');
  inner.down = true;
  await t.rejects(s.stat('cache/big'), { code: 'STORAGE_UNAVAILABLE' }, 'not indexed');
  await t.rejects(stat(path.join(dir, 'cache', 'big')));
});
