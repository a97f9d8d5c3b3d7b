import t from 'tap';
import { PatternIndex } from '../../src/policy/pattern-index.js';
import { matchPrefixPatterns } from '../../src/integrity/module.js';
import { conformance, readJson } from '../helpers/testdata.js';

t.test('the index agrees with Go prefix-pattern matching', async (t) => {
  const patterns = [
    'example.com/team',
    'example.com/team/sub',
    'github.com/acme/*',
    'corp.example',
    'golang.org/x/tools/',
    '*.internal/lib',
    'a/b?/c',
  ];
  const paths = [
    'example.com/team',
    'example.com/team/x/y',
    'example.com/teamx',
    'github.com/acme/repo/pkg',
    'github.com/acme',
    'corp.example',
    'corp.example.com',
    'golang.org/x/tools/gopls',
    'svc.internal/lib/v2',
    'a/bz/c/d',
    'a/b/c',
  ];
  const index = new PatternIndex(patterns.map((p) => ({ pattern: p, item: p })));
  for (const path of paths) {
    const want = patterns.filter((p) => matchPrefixPatterns(p, path)).sort();
    t.same(index.match(path).sort(), want, path);
  }
});

t.test('the index agrees with the x/mod matchPrefixPatterns vectors', async (t) => {
  conformance(t);
  const { matchPrefixPatterns: cases } = await readJson<{
    matchPrefixPatterns: Array<{ globs: string; target: string; want: boolean }>;
  }>('xmod-tables', 'module.json');
  for (const c of cases) {
    const index = new PatternIndex(c.globs.split(',').map((p) => ({ pattern: p, item: p })));
    t.equal(index.match(c.target).length > 0, c.want, `${JSON.stringify(c.globs)} ~ ${c.target}`);
  }
});

t.test('glob patterns filed under their literal prefix still agree with Go', async (t) => {
  const patterns = [
    'github.com/acme/*',
    'github.com/acme/*/internal',
    'github.com/*/tools',
    'github.com/ac?e',
    '*.example/lib',
    '*',
    'corp.example/[a-c]*',
    'corp.example/team,corp.example/other/*',
  ];
  const paths = [
    'github.com/acme/repo',
    'github.com/acme/repo/internal/x',
    'github.com/acme',
    'github.com/zzz/tools/cmd',
    'github.com/acme/tools',
    'github.com/acxe',
    'svc.example/lib/v2',
    'corp.example/beta/x',
    'corp.example/delta',
    'corp.example/team/x',
    'corp.example/other/y/z',
    'corp.example/other',
  ];
  const index = new PatternIndex(patterns.map((p) => ({ pattern: p, item: p })));
  for (const path of paths) {
    const want = patterns.filter((p) => matchPrefixPatterns(p, path)).sort();
    t.same([...new Set(index.match(path))].sort(), want, path);
  }
  t.equal(index.size, 9, 'a comma-separated entry counts once per pattern');
});

t.test('a lookup tries only the globs under the path’s prefixes, not every glob', async (t) => {
  let tried = 0;
  const { PatternIndex: Counted } = await t.mockImport<
    typeof import('../../src/policy/pattern-index.js')
  >('../../src/policy/pattern-index.js', {
    '../../src/integrity/module.js': {
      matchPrefixPatterns: (g: string, p: string) => (tried++, matchPrefixPatterns(g, p)),
    },
  });
  const entries = Array.from({ length: 20_000 }, (_, i) => ({
    pattern: `example.com/g${i}/*`,
    item: i,
  }));
  const index = new Counted([...entries, { pattern: '*.internal/x', item: -1 }]);
  t.same(index.match('example.com/g123/sub'), [123]);
  t.equal(tried, 2, 'its own bucket and the leading-glob bucket');
  tried = 0;
  t.same(index.match('svc.internal/x/y'), [-1]);
  t.same(index.match('other.example/g123/sub'), []);
  t.equal(tried, 2, 'only the leading-glob pattern, once per lookup');
});
