import t from 'tap';
import { MemoryBlobStore } from '../../src/storage/memory.js';
import { blobStoreContract } from './contract.js';

blobStoreContract(t, async () => new MemoryBlobStore(), { streams: false });

t.test('a memory store that is down fails every call with STORAGE_UNAVAILABLE', async (t) => {
  const s = new MemoryBlobStore();
  await s.putBytes('a', 'x');
  s.down = true;
  await t.rejects(s.getBytes('a'), { code: 'STORAGE_UNAVAILABLE' });
  await t.rejects(s.check(), { code: 'STORAGE_UNAVAILABLE' });
  s.down = false;
  t.equal((await s.getBytes('a'))?.toString(), 'x');
});
