import t from 'tap';
import { Router } from '../../src/goproxy/router.js';

const PUBLIC = 'https://proxy.example';
const router = (o: Partial<ConstructorParameters<typeof Router>[0]> = {}) =>
  new Router({
    publicUpstream: PUBLIC,
    routes: [],
    privatePatterns: '',
    noSumdbPatterns: '',
    ...o,
  });
const urls = (r: { chain: Array<{ url: string }> }) => r.chain.map((e) => e.url);

t.test(
  'with no routes every module goes to the public chain and the checksum database',
  async (t) => {
    const r = router({ publicUpstream: 'https://a.example/, https://b.example|https://c.example' });
    const route = r.route('github.com/x/y');
    t.same(urls(route), ['https://a.example', 'https://b.example', 'https://c.example']);
    t.same(
      route.chain.map((e) => e.fallBackOnError),
      [false, true, false],
      "',' and '|' keep their fall-back meaning",
    );
    t.equal(route.private, false);
    t.equal(r.skipsSumdb('github.com/x/y'), false);
    t.equal(r.isPrivate('github.com/x/y'), false);
    t.same(urls({ chain: r.publicUpstreams }), urls(route));
  },
);

t.test('the public chain stops at direct or off (modgate never fetches from VCS)', async (t) => {
  t.same(urls(router({ publicUpstream: 'https://a.example,direct' }).route('m.example/x')), [
    'https://a.example',
  ]);
  t.same(urls(router({ publicUpstream: 'off' }).route('m.example/x')), []);
  t.throws(() => router({ publicUpstream: 'file:///srv/proxy' }), {
    code: 'UPSTREAM_LIST_INVALID',
  });
});

t.test(
  'routes match by Go prefix patterns, element by element; the first match wins',
  async (t) => {
    const r = router({
      routes: [
        { pattern: 'corp.example/team', upstream: 'https://team.example', private: false },
        { pattern: 'corp.example', upstream: 'https://corp.example', private: false },
        { pattern: '*.internal', upstream: 'https://internal.example', private: false },
      ],
    });
    t.same(urls(r.route('corp.example/team/lib')), ['https://team.example']);
    t.same(urls(r.route('corp.example/team')), ['https://team.example']);
    t.same(urls(r.route('corp.example/teamx')), ['https://corp.example'], 'not a string prefix');
    t.same(urls(r.route('corp.example/other')), ['https://corp.example']);
    t.same(urls(r.route('corp.examplex/other')), [PUBLIC], 'element boundary');
    t.same(urls(r.route('svc.internal/lib')), ['https://internal.example']);
    t.same(urls(r.route('a.b.internal/lib')), ['https://internal.example'], '* spans dots');
    t.same(urls(r.route('github.com/corp.example')), [PUBLIC], 'anchored at the start');
    t.equal(r.route('corp.example/team/lib').pattern, 'corp.example/team');
  },
);

t.test('private patterns: only private routes, and no upstream at all without one', async (t) => {
  const r = router({
    privatePatterns: 'corp.example,*.internal',
    routes: [
      { pattern: 'corp.example', upstream: 'https://public-mirror.example', private: false },
      { pattern: 'corp.example/secret', upstream: 'https://vault.example', private: true },
    ],
  });
  t.equal(r.isPrivate('corp.example/lib'), true);
  t.equal(r.isPrivate('svc.internal/x'), true);
  t.equal(r.isPrivate('corp.examples/lib'), false);
  t.same(urls(r.route('corp.example/secret/x')), ['https://vault.example']);
  const leak = r.route('corp.example/lib');
  t.same(urls(leak), [], 'a private name never reaches a public route or the public chain');
  t.equal(leak.private, true);
  t.same(urls(r.route('svc.internal/x')), []);
  t.same(urls(r.route('github.com/ok')), [PUBLIC]);
});

t.test('skipsSumdb: private patterns, GONOSUMDB patterns and private routes', async (t) => {
  const r = router({
    privatePatterns: 'corp.example',
    noSumdbPatterns: 'nosum.example/*',
    routes: [{ pattern: 'mirror.example', upstream: 'https://mirror.example', private: true }],
  });
  t.equal(r.skipsSumdb('corp.example/lib'), true, 'GOPRIVATE');
  t.equal(r.skipsSumdb('nosum.example/a/b'), true, 'GONOSUMDB');
  t.equal(r.skipsSumdb('nosum.example'), false, 'the pattern needs two elements');
  t.equal(r.isPrivate('nosum.example/a'), false, 'GONOSUMDB alone does not make it private');
  t.same(urls(r.route('nosum.example/a')), [PUBLIC], '... nor change its upstream');
  t.equal(r.skipsSumdb('mirror.example/x'), true, 'a route marked private');
  t.equal(r.route('mirror.example/x').private, true);
  t.equal(r.skipsSumdb('github.com/x'), false);
});

t.test('empty and trailing-slash patterns follow Go', async (t) => {
  const r = router({ privatePatterns: ',corp.example/,', noSumdbPatterns: '' });
  t.equal(r.isPrivate('corp.example/x'), true, 'trailing slash ignored');
  t.equal(r.isPrivate('other.example'), false, 'empty entries match nothing');
  t.equal(router().skipsSumdb('anything.example'), false);
});
