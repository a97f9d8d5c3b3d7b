import t from 'tap';
import { assertNotSelf, upstreamChain } from '../../src/upstream/proxy-list.js';

t.test('upstreamChain stops at direct and off and strips trailing slashes', async (t) => {
  t.same(upstreamChain('https://a.example/,https://b.example|direct,https://c.example'), [
    { url: 'https://a.example', fallBackOnError: false },
    { url: 'https://b.example', fallBackOnError: true },
  ]);
  t.same(upstreamChain('off'), []);
  t.throws(() => upstreamChain('file:///srv/mirror'), { code: 'UPSTREAM_LIST_INVALID' });
});

t.test('a chain pointing at modgate itself is refused', async (t) => {
  const chain = upstreamChain('https://localhost:8443');
  t.throws(() => assertNotSelf(chain, ['https://127.0.0.1:8443']), { code: 'UPSTREAM_IS_SELF' });
  t.doesNotThrow(() => assertNotSelf(chain, ['https://127.0.0.1:9443']));
});
