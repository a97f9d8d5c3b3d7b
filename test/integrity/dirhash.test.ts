import t from 'tap';
import { hashGoMod, hash1FromDigests } from '../../src/integrity/dirhash.js';

t.test('dirhash', async (t) => {
  t.equal(
    hashGoMod(Buffer.from('module example.com/m\n')),
    'h1:flS2VctbRrTv+sBE+VKgxx6hlkMGPVz9MGOmzMYFg3k=',
  );
  const d = '535ed2ade678415f99d527a5f1eefafeb70243486ec430dbd3578048cc1bacac';
  t.equal(
    hash1FromDigests([{ name: 'go.mod', sha256: d }]),
    hash1FromDigests([{ name: 'go.mod', sha256: Buffer.from(d, 'hex') }]),
  );
  t.throws(() => hash1FromDigests([{ name: 'a\nb', sha256: d }]), { code: 'HASH_NAME_INVALID' });
  t.throws(() => hash1FromDigests([{ name: 'a', sha256: 'abc' }]));
});
