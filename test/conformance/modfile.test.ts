import t from 'tap';
import { readFile } from 'node:fs/promises';
import { isRetracted, parseModFile } from '../../src/integrity/modfile.js';
import { parseTxtar } from '../helpers/txtar.js';
import { conformance, td } from '../helpers/testdata.js';

async function fixtureMod(name: string): Promise<string> {
  const ar = parseTxtar(await readFile(td('go', 'mod', name), 'utf8'));
  return ar.files.find((f) => f.name === '.mod')!.data;
}

t.test('cmd/go retraction fixtures', async (t) => {
  conformance(t);
  const m = parseModFile(await fixtureMod('example.com_retract_rationale_v1.9.0.txt'));
  t.equal(m.module, 'example.com/retract/rationale');
  const byLow = new Map(m.retract.map((r) => [r.low, r.rationale]));
  t.equal(byLow.get('v1.0.0-empty'), '');
  t.equal(byLow.get('v1.0.0-multiline1'), 'short description\nmore\n\ndetail\nsuffix');
  t.equal(byLow.get('v1.0.0-multiline2'), 'short description\nmore\n\ndetail\nsuffix');
  t.match(byLow.get('v1.0.0-long'), /^looo+ong$/);
  t.equal(byLow.get('v1.0.0-unprintable'), 'Ends with a BEL character. Beep!\x07');
  t.equal(
    byLow.get('v1.0.0-block'),
    'block comment',
    'a line without comments takes the block comment',
  );
  t.equal(byLow.get('v1.0.0-blockwithcomment'), 'inner comment');
  t.same(
    m.retract.filter((r) => r.low.endsWith('order')).map((r) => [r.low, r.high, r.rationale]),
    [
      ['v1.0.0-order', 'v1.0.0-order', 'degenerate range'],
      ['v1.0.0-order', 'v1.0.0-order', 'single version'],
      ['v1.0.1-order', 'v1.0.1-order', 'single version'],
      ['v1.0.1-order', 'v1.0.1-order', 'degenerate range'],
    ],
  );
  t.equal(m.retract.length, 11);
  t.ok(isRetracted('v1.0.0-long', m.retract));
  t.notOk(isRetracted('v1.9.0', m.retract));

  const r = parseModFile(await fixtureMod('example.com_retract_v1.1.0.txt'));
  t.same(r.retract, [
    { low: 'v1.0.0-bad', high: 'v1.0.0-bad', rationale: 'bad' },
    { low: 'v1.0.0-unused', high: 'v1.0.0-unused', rationale: 'bad' },
  ]);
  t.ok(isRetracted('v1.0.0-bad', r.retract));
  t.notOk(isRetracted('v1.1.0', r.retract));
  t.same(parseModFile(await fixtureMod('example.com_retract_v1.0.0-bad.txt')).retract, []);
});

t.test('x/mod modfile testdata', async (t) => {
  conformance(t);
  const m = parseModFile(await readFile(td('xmod', 'modfile', 'testdata', 'retract.in'), 'utf8'));
  t.equal(m.module, 'abc');
  t.same(
    m.retract.map((r) => [r.low, r.high]),
    [
      ['v1.2.3', 'v1.2.3'],
      ['v1.2.3', 'v1.2.4'],
      ['v1.2.3', 'v1.2.3'],
      ['v1.2.3', 'v1.2.4'],
    ],
  );
  t.equal(
    parseModFile(await readFile(td('xmod', 'modfile', 'testdata', 'module.in'), 'utf8')).module,
    'abc',
  );
});
