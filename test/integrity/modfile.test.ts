import t from 'tap';
import { isRetracted, parseModFile } from '../../src/integrity/modfile.js';

t.test('Deprecated comments on the module line', async (t) => {
  t.equal(
    parseModFile('// Deprecated: use example.com/new.\nmodule example.com/old\n').deprecated,
    'use example.com/new.',
  );
  t.equal(parseModFile('module example.com/old // Deprecated: gone\n').deprecated, 'gone');
  t.equal(
    parseModFile('// Some text.\n//\n// Deprecated: second\n// paragraph\nmodule m.com/x\n')
      .deprecated,
    'second\nparagraph',
  );
  t.equal(
    parseModFile('// Deprecated: detached\n\nmodule m.com/x\n').deprecated,
    undefined,
    'a blank line detaches the comment',
  );
  t.equal(
    parseModFile('// deprecated: lower case\nmodule m.com/x\n').deprecated,
    undefined,
    'case sensitive',
  );
  t.equal(parseModFile('// Deprecated in prose\nmodule m.com/x\n').deprecated, undefined);
  t.equal(parseModFile('// Deprecated: in block\nmodule (\n\tm.com/x\n)\n').deprecated, 'in block');
});

t.test('retract forms and intervals', async (t) => {
  const m = parseModFile(
    [
      'module example.com/m',
      '',
      '// single',
      'retract v1.0.0',
      'retract [v1.1.0, v1.2.0] // range',
      'retract (',
      '\tv1.3',
      '\t[v2.0.0+incompatible, v2.1.0+incompatible]',
      '\tnot-a-version',
      '\t[v1.5.0 v1.6.0]',
      ')',
      'require example.com/x v1.0.0',
    ].join('\r\n'),
  );
  t.same(m.retract, [
    { low: 'v1.0.0', high: 'v1.0.0', rationale: 'single' },
    { low: 'v1.1.0', high: 'v1.2.0', rationale: 'range' },
    { low: 'v1.3.0', high: 'v1.3.0', rationale: '' },
    { low: 'v2.0.0+incompatible', high: 'v2.1.0+incompatible', rationale: '' },
  ]);
  t.ok(isRetracted('v1.0.0', m.retract));
  t.ok(isRetracted('v1.1.0', m.retract));
  t.ok(isRetracted('v1.1.5-pre', m.retract));
  t.ok(isRetracted('v1.2.0', m.retract));
  t.notOk(isRetracted('v1.2.1', m.retract));
  t.notOk(isRetracted('v1.0.1', m.retract));
  t.ok(isRetracted('v2.0.5+incompatible', m.retract));
  t.notOk(isRetracted('garbage', m.retract), 'an invalid version is never retracted');
  t.same(parseModFile('').retract, []);
  t.equal(parseModFile('module "quoted.com/m"\n').module, 'quoted.com/m');
});
