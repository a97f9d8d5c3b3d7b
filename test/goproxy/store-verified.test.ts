import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { both, quarantineSpool, storeVerified } from '../../src/goproxy/store-verified.js';
import type { StoredEvidence } from '../../src/goproxy/evidence.js';
import { FsBlobStore } from '../../src/storage/fs.js';
import { MemoryBlobStore } from '../../src/storage/memory.js';
import { testdir } from '../helpers/testdir.js';

// A verified spool enters the store only as the bytes that were verified.

function evidenceOf(bytes: Buffer, kind: 'mod' | 'zip'): StoredEvidence {
  return {
    kind,
    module: 'example.com/m',
    version: 'v1.0.0',
    upstream: 'http://127.0.0.1:1',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    fetchedAt: new Date(0).toISOString(),
  };
}

const signal = new AbortController().signal;
const verified = Buffer.from('module example.com/m\n');
const changed = Buffer.from('module example.com/x\n'); // same length, other bytes

t.test('a kept artifact is written from bytes checked against the evidence', async (t) => {
  const dir = testdir(t);
  const store = new MemoryBlobStore();
  const tmp = path.join(dir, 'a.mod');
  await writeFile(tmp, verified);
  const body = await storeVerified(store, 1024, {
    key: 'cache/a.mod',
    tmp,
    evidence: evidenceOf(verified, 'mod'),
    signal,
  });
  t.same(body, verified, 'the checked bytes are returned for the answer');
  t.same(await store.getBytes('cache/a.mod'), verified);

  await writeFile(tmp, changed);
  await t.rejects(
    storeVerified(store, 1024, {
      key: 'cache/b.mod',
      tmp,
      evidence: evidenceOf(verified, 'mod'),
      signal,
    }),
    { code: 'STORAGE_UNAVAILABLE', message: /changed after it was verified/ },
  );
  t.equal(await store.stat('cache/b.mod'), null, 'a spool changed after its checks is not stored');
});

t.test('a large zip streamed into a store without putFile is checked on the way', async (t) => {
  const dir = testdir(t);
  const store = new MemoryBlobStore();
  const tmp = path.join(dir, 'a.zip');
  await writeFile(tmp, changed);
  await t.rejects(
    storeVerified(store, 4, {
      key: 'cache/a.zip',
      tmp,
      evidence: evidenceOf(verified, 'zip'),
      signal,
    }),
  );
  t.same(await store.list('cache/'), [], 'nothing is stored');
  await writeFile(tmp, verified);
  const body = await storeVerified(store, 4, {
    key: 'cache/a.zip',
    tmp,
    evidence: evidenceOf(verified, 'zip'),
    signal,
  });
  t.equal(body, undefined, 'a zip over the memory cap is not held in memory');
  t.same(await store.getBytes('cache/a.zip'), verified);
});

t.test('a large zip is moved into an fs store, and its spool is consumed', async (t) => {
  const dir = testdir(t);
  const store = new FsBlobStore(path.join(dir, 'store'));
  const tmp = path.join(dir, 'spool', 'a.zip');
  await mkdir(path.dirname(tmp));
  await writeFile(tmp, verified);
  await storeVerified(store, 4, {
    key: 'cache/a.zip',
    tmp,
    evidence: evidenceOf(verified, 'zip'),
    signal,
  });
  t.same(await store.getBytes('cache/a.zip'), verified);
  t.same(await readdir(path.dirname(tmp)), [], 'the spool file became the stored file');
});

t.test('both waits for the second write even when the first fails', async (t) => {
  let second = false;
  const slow = new Promise<string>((resolve) =>
    setImmediate(() => {
      second = true;
      resolve('stored');
    }),
  );
  await t.rejects(both(Promise.reject(new Error('evidence failed')), slow), {
    message: 'evidence failed',
  });
  t.equal(second, true, 'the other write had settled before the failure was thrown');
  await t.rejects(both(Promise.resolve(), Promise.reject(new Error('store failed'))), {
    message: 'store failed',
  });
  t.equal(await both(Promise.resolve(1), Promise.resolve('body')), 'body');
});

t.test('a refused spool is kept under quarantine/', async (t) => {
  const dir = testdir(t);
  const store = new MemoryBlobStore();
  const tmp = path.join(dir, 'bad.zip');
  await writeFile(tmp, changed);
  const qkey = await quarantineSpool(store, tmp, 'cache/example.com/m/@v/v1.0.0.zip');
  t.match(qkey, /^quarantine\/[^/]+\/v1\.0\.0\.zip$/);
  t.same(await store.getBytes(qkey), changed);
});
