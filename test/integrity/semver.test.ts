import t from 'tap';
import { canonical, compare, isValid, max, sort } from '../../src/integrity/semver.js';

t.test('Go semver, not npm semver', async (t) => {
  t.notOk(isValid('1.2.3'), 'needs the v');
  t.ok(isValid('v1'));
  t.equal(canonical('v1.2'), 'v1.2.0');
  t.equal(canonical('v1.2.3+build'), 'v1.2.3');
  t.notOk(isValid('v01.2.3'));
  t.notOk(isValid('v1.2.3-01'));
  t.equal(compare('v1.2.3-alpha.10', 'v1.2.3-alpha.9'), 1);
  t.equal(compare('v1.2.3', 'v1.2.3+meta'), 0);
  t.equal(compare('bad', 'v0.0.0'), -1);
  t.equal(max('v1.2', 'v1.1.9'), 'v1.2.0');
  t.same(sort(['v1.10.0', 'v1.9.0', 'x', 'v1.9.0-pre']), ['x', 'v1.9.0-pre', 'v1.9.0', 'v1.10.0']);
});
