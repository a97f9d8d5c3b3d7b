import t from 'tap';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { sameAsVerified } from '../../src/goproxy/hit-stream.js';
import { MemoryBlobStore } from '../../src/storage/memory.js';

const verified = Buffer.from('the verified bytes');
const want = { sha256: createHash('sha256').update(verified).digest('hex'), size: verified.length };

t.test('verified bytes go into the store through the guard', async (t) => {
  const store = new MemoryBlobStore();
  await store.put('cache/a.zip', Readable.from([verified]).pipe(sameAsVerified(want)));
  t.ok((await store.getBytes('cache/a.zip'))?.equals(verified));
});

t.test('bytes changed after verification are never committed', async (t) => {
  const store = new MemoryBlobStore();
  const changed = Buffer.from(verified);
  changed[0] = changed[0]! ^ 1;
  for (const body of [changed, verified.subarray(1), Buffer.concat([verified, verified])]) {
    await t.rejects(store.put('cache/a.zip', Readable.from([body]).pipe(sameAsVerified(want))), {
      code: 'STORAGE_UNAVAILABLE',
    });
  }
  t.equal(await store.stat('cache/a.zip'), null, 'nothing stored');
});
