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
