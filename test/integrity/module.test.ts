import t from 'tap';
import {
  checkFilePath,
  checkPath,
  escapePath,
  escapeVersion,
  globMatch,
  goQuote,
  matchPrefixPatterns,
  unescapePath,
  unescapeVersion,
} from '../../src/integrity/module.js';

t.test('module paths', async (t) => {
  t.doesNotThrow(() => checkPath('github.com/BurntSushi/toml'));
  t.throws(() => checkPath('github.com/x/../y'), { code: 'MODULE_PATH_INVALID' });
  t.throws(() => checkPath('Github.com/x'), {
    code: 'MODULE_PATH_INVALID',
    message: /invalid char 'G' in first path element/,
  });
  t.throws(() => checkPath(Buffer.from([0x61, 0x2e, 0x62, 0xff])), {
    code: 'MODULE_PATH_INVALID',
    message: 'malformed module path "a.b\\xff": invalid UTF-8',
  });
  t.throws(() => checkPath('example.com/\ud800'), {
    code: 'MODULE_PATH_INVALID',
    message: /invalid UTF-8/,
  });
  t.throws(() => checkFilePath('a/CON.txt'), {
    code: 'FILE_PATH_INVALID',
    message: /disallowed as path element component on Windows/,
  });
  t.doesNotThrow(() => checkFilePath('π/α.go'));
  t.equal(escapePath('github.com/BurntSushi/toml'), 'github.com/!burnt!sushi/toml');
  t.equal(unescapePath('github.com/!burnt!sushi/toml'), 'github.com/BurntSushi/toml');
  t.throws(() => unescapePath('github.com/Burnt'), { code: 'MODULE_PATH_INVALID' });
  t.equal(escapeVersion('v1.0.0-RC1'), 'v1.0.0-!r!c1');
  t.equal(unescapeVersion('v1.0.0-!r!c1'), 'v1.0.0-RC1');
  t.throws(() => escapeVersion('v1/../x'), { code: 'VERSION_INVALID' });
  t.equal(goQuote('a"b\\c\n\x07'), '"a\\"b\\\\c\\n\\a"');
});

t.test('GOPRIVATE-style patterns', async (t) => {
  t.ok(matchPrefixPatterns('corp.example.com', 'corp.example.com/team/repo'));
  t.ok(matchPrefixPatterns('*.corp.example.com,rsc.io/private', 'rsc.io/private/sub'));
  t.notOk(
    matchPrefixPatterns('corp.example.com', 'corp.example.community/x'),
    'element-wise, not string prefix',
  );
  t.notOk(matchPrefixPatterns('rsc.io/private', 'rsc.io/privateer'));
  t.ok(matchPrefixPatterns('git.[a-c]orp.com', 'git.borp.com/x'));
  t.notOk(matchPrefixPatterns('git.[^a-c]orp.com', 'git.borp.com/x'));
  t.notOk(matchPrefixPatterns('[', 'x'), 'a malformed pattern matches nothing');
  t.ok(globMatch('a\\*b', 'a*b'));
  t.notOk(globMatch('a*', 'a/b'), 'star does not cross a slash');
  t.notOk(globMatch('a?b', 'a/b'));
});
