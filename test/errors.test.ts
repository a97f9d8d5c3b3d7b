import t from 'tap';
import {
  ERROR_CODES,
  ERROR_FAMILIES,
  ModgateError,
  asModgateError,
  isErrorCode,
  isModgateError,
} from '../src/errors.js';

t.test('ModgateError carries a stable code', async (t) => {
  const e = new ModgateError('ZIP_INVALID', 'bad crc', {});
  t.equal(e.code, 'ZIP_INVALID');
  t.equal(String(e), 'ZIP_INVALID: bad crc');
  t.ok(isModgateError(e, 'ZIP_INVALID'));
  t.notOk(isModgateError(e, 'ZIP_DUPLICATE'));
  t.notOk(isModgateError(new Error('x')));
  t.equal(asModgateError(new Error('boom')).code, 'INTERNAL');
  t.equal(asModgateError('boom', 'AUDIT_UNAVAILABLE').code, 'AUDIT_UNAVAILABLE');
  t.equal(asModgateError(e), e);
  t.same(new ModgateError('NOT_FOUND', 'x').details, {}, 'no details is an empty object');
});

t.test('narrowing by code types the details', async (t) => {
  const e: unknown = new ModgateError('UPSTREAM_PIN_MISMATCH', 'pins', {
    host: 'h',
    expected: ['sha256/a'],
    seen: ['sha256/b'],
  });
  if (!isModgateError(e, 'UPSTREAM_PIN_MISMATCH')) throw new Error('not narrowed');
  const seen: readonly string[] = e.details.seen;
  t.same(seen, ['sha256/b']);
});

t.test('misspelt codes and wrong details do not compile', async (t) => {
  const build = (): unknown[] => [
    // @ts-expect-error: not a code
    new ModgateError('ZIP_BAD_PATH', 'x'),
    // @ts-expect-error: not a code
    isModgateError(null, 'OTHER'),
    // @ts-expect-error: a detail the code does not declare
    new ModgateError('ZIP_CRC_MISMATCH', 'x', { module: 'm' }),
    // @ts-expect-error: a detail of the wrong type
    new ModgateError('AUDIT_SHIP_FAILED', 'x', { seq: '1' }),
  ];
  // They still run: the type system is the guard, not the constructor.
  t.equal(build().length, 4);
});

t.test('the code list is the union, each code once, in one family', async (t) => {
  t.equal(new Set(ERROR_CODES).size, ERROR_CODES.length, 'no code twice');
  const families = Object.values(ERROR_FAMILIES).flat();
  t.equal(families.length, ERROR_CODES.length);
  for (const code of ERROR_CODES) t.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, code);
  t.ok(isErrorCode('CHECKSUM_MISMATCH'));
  t.notOk(isErrorCode('CHECKSUM_MISMATCHES'));
  t.notOk(isErrorCode(42));
});
