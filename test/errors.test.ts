import t from 'tap';
import { ModgateError, asModgateError, isModgateError } from '../src/errors.js';

t.test('ModgateError carries a stable code', async (t) => {
  const e = new ModgateError('ZIP_BAD_PATH', 'bad path', { file: 'x' });
  t.equal(e.code, 'ZIP_BAD_PATH');
  t.equal(String(e), 'ZIP_BAD_PATH: bad path');
  t.ok(isModgateError(e, 'ZIP_BAD_PATH'));
  t.notOk(isModgateError(e, 'OTHER'));
  t.equal(asModgateError(new Error('boom')).code, 'INTERNAL');
  t.equal(asModgateError(e), e);
});
