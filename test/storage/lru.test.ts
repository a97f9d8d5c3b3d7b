import t from 'tap';
import { ByteLru } from '../../src/storage/lru.js';

t.test('evicts least recently used entries past the byte budget', async (t) => {
  const lru = new ByteLru<string>(10);
  lru.set('a', 'A', 4);
  lru.set('b', 'B', 4);
  t.equal(lru.get('a'), 'A', 'touching a makes b the oldest');
  lru.set('c', 'C', 4);
  t.equal(lru.get('b'), undefined, 'b evicted');
  t.equal(lru.get('a'), 'A');
  t.equal(lru.get('c'), 'C');
  t.equal(lru.bytes, 8);
  lru.set('huge', 'H', 11);
  t.equal(lru.get('huge'), undefined, 'an entry over the whole budget is not kept');
  lru.set('a', 'A2', 2);
  t.equal(lru.bytes, 6, 'replacing an entry updates the weight');
  lru.delete('a');
  t.equal(lru.size, 1);
});
