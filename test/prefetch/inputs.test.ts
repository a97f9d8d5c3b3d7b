import t, { type Test } from 'tap';
import {
  parseGoMod,
  parseGoSum,
  parseInput,
  parseModuleList,
  targets,
} from '../../src/prefetch/inputs.js';
import { isModgateError } from '../../src/errors.js';

const H = 'h1:' + 'A'.repeat(43) + '=';

/** The error a parse throws: PREFETCH_INPUT_INVALID naming the file and line. */
function refusal(t: Test, fn: () => unknown, where: RegExp): void {
  try {
    fn();
    t.fail(`accepted: ${where}`);
  } catch (err) {
    t.ok(isModgateError(err, 'PREFETCH_INPUT_INVALID'), String(err));
    t.match((err as Error).message, where);
  }
}

t.test('go.sum: zip and /go.mod lines; /go.mod alone fetches no zip', async (t) => {
  const pairs = parseGoSum(
    'go.sum',
    `example.com/a v1.0.0 ${H}\nexample.com/a v1.0.0/go.mod ${H}\n\nexample.com/b v0.2.0/go.mod ${H}\n`,
  );
  t.same(targets(pairs), [
    { module: 'example.com/a', version: 'v1.0.0', kinds: ['info', 'mod', 'zip'] },
    { module: 'example.com/b', version: 'v0.2.0', kinds: ['info', 'mod'] },
  ]);
});

t.test(
  'go.mod: every require, in every block, indirect too; other directives skipped',
  async (t) => {
    const text = [
      'module example.com/app',
      '',
      'go 1.21',
      'require example.com/one v1.0.0',
      'require (',
      '\texample.com/two v0.1.0 // indirect',
      '\t"example.com/three" v1.2.3',
      ')',
      'replace (',
      '\texample.com/one => ../one',
      ')',
      'exclude example.com/two v0.0.1',
    ].join('\n');
    t.same(
      targets(parseGoMod('go.mod', text)).map((x) => `${x.module}@${x.version}`),
      ['example.com/one@v1.0.0', 'example.com/three@v1.2.3', 'example.com/two@v0.1.0'],
    );
  },
);

t.test('module lists and --module; a zip from any input wins over /go.mod only', async (t) => {
  const pairs = [
    ...parseModuleList(
      'list.txt',
      '# comment\nexample.com/a@v1.0.0\n\n  example.com/c@v2.0.0+incompatible # x\n',
    ),
    ...parseGoSum('go.sum', `example.com/a v1.0.0/go.mod ${H}\n`),
  ];
  t.same(targets(pairs), [
    { module: 'example.com/a', version: 'v1.0.0', kinds: ['info', 'mod', 'zip'] },
    { module: 'example.com/c', version: 'v2.0.0+incompatible', kinds: ['info', 'mod', 'zip'] },
  ]);
});

t.test('the parser is chosen by name, else by content', async (t) => {
  t.equal(parseInput('deps/go.sum', `example.com/a v1.0.0 ${H}\n`)[0]![2], 'zip');
  t.equal(parseInput('x', `example.com/a v1.0.0/go.mod ${H}\n`)[0]![2], 'mod');
  t.equal(parseInput('other/go.mod', 'module m\nrequire example.com/a v1.0.0\n').length, 1);
  t.equal(parseInput('plain', 'module m\nrequire example.com/a v1.0.0\n').length, 1);
  t.equal(parseInput('mods.txt', 'example.com/a@v1.0.0\n').length, 1);
});

t.test('hostile input is refused with the file and line named', async (t) => {
  refusal(
    t,
    () => parseGoSum('go.sum', `example.com/a v1.0.0 ${H}\nexample.com/a v1.0.0\n`),
    /^go\.sum line 2: not a go\.sum line/,
  );
  refusal(t, () => parseGoSum('go.sum', `example.com/a v1.0.0 h1:short\n`), /go\.sum line 1/);
  refusal(
    t,
    () => parseGoSum('go.sum', `../../etc/passwd v1.0.0 ${H}\n`),
    /go\.sum line 1: .*malformed module path|go\.sum line 1/,
  );
  refusal(
    t,
    () => parseGoSum('go.sum', `example.com/a v1.0 ${H}\n`),
    /go\.sum line 1: version v1\.0 is not canonical/,
  );
  refusal(
    t,
    () => parseGoSum('go.sum', `example.com/a latest ${H}\n`),
    /go\.sum line 1: .*invalid version/,
  );
  refusal(
    t,
    () => parseGoMod('go.mod', 'module m\nrequire (\n\texample.com/a\n)\n'),
    /^go\.mod line 3: not a requirement/,
  );
  refusal(
    t,
    () => parseGoMod('go.mod', 'module m\nrequire (\n\texample.com/a v1.0.0\n'),
    /^go\.mod: the require block is not closed/,
  );
  refusal(t, () => parseGoMod('go.mod', 'require example.com/a v1.0.0 extra\n'), /^go\.mod line 1/);
  refusal(
    t,
    () => parseModuleList('mods.txt', 'example.com/a@v1.0.0\nexample.com/b\n'),
    /^mods\.txt line 2: not a module version/,
  );
  refusal(t, () => parseModuleList('--module', 'example.com/a @v1.0.0'), /^--module line 1/);
  refusal(
    t,
    () => parseModuleList('--module', 'example.com/a/v2@v1.0.0'),
    /--module line 1: .*invalid version/,
  );
  refusal(
    t,
    () => parseModuleList('mods.txt', `example.com/a@v1.0.0\n${'x'.repeat(5000)}\n`),
    /^mods\.txt line 2: longer than 4096/,
  );
  refusal(t, () => parseInput('go.sum', 'a\0b'), /^go\.sum: binary data/);
});
