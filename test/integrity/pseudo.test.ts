import t from 'tap';
import {
  isPseudoVersion,
  pseudoVersionBase,
  pseudoVersionRev,
  pseudoVersionTime,
} from '../../src/integrity/pseudo.js';

t.test('pseudo-versions', async (t) => {
  const v = 'v0.0.0-20231012003039-104605ab7028';
  t.ok(isPseudoVersion(v));
  t.equal(pseudoVersionRev(v), '104605ab7028');
  t.equal(pseudoVersionTime(v).toISOString(), '2023-10-12T00:30:39.000Z');
  t.equal(pseudoVersionBase('v1.2.4-0.20231012003039-104605ab7028'), 'v1.2.3');
  t.throws(() => pseudoVersionTime('v0.0.0-20231332003039-104605ab7028'), {
    code: 'VERSION_INVALID',
    message: /malformed time/,
  });
  t.throws(() => pseudoVersionRev('v1.0.0'), { code: 'VERSION_INVALID' });
});
