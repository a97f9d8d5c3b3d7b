import t from 'tap';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/index.js';
import { commandPath, leafCommands } from '../../src/cli/examples.js';
import { modgate } from '../helpers/cli.js';

function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

function find(program: Command, words: string[]): Command | undefined {
  let cmd: Command | undefined = program;
  for (const w of words) cmd = cmd?.commands.find((c) => c.name() === w);
  return cmd;
}

t.test('every command has a --help with examples, and the examples use real options', async (t) => {
  const program = await buildProgram();
  const leaves = leafCommands(program);
  t.ok(leaves.length >= 15, `${leaves.length} commands`);
  for (const cmd of leaves) {
    const name = commandPath(cmd);
    const help = helpOf(cmd);
    t.match(help, /\nExamples:\n/, `${name}: has examples`);
    const examples = [...help.matchAll(/^ {2}(?:\S+=\S+ )*modgate (.+)$/gm)].map((m) => m[1]!);
    t.ok(examples.length > 0, `${name}: at least one example invocation`);
    for (const ex of examples) {
      const words = ex.split(/\s+/);
      const target = find(program, words.slice(0, name.split(' ').length));
      t.equal(target, cmd, `${name}: "${ex}" runs this command`);
      const known = new Set(cmd.options.flatMap((o) => [o.long, o.short]).filter(Boolean));
      for (const flag of words.filter((w) => w.startsWith('--')).map((w) => w.split('=')[0]))
        t.ok(known.has(flag), `${name}: ${flag} is one of its options`);
    }
  }
});

t.test('--help through the real bin exits 0 for a nested command', async (t) => {
  const r = await modgate(['verify', 'gosum', '--help'], { env: { GOPROXY: 'off' } });
  t.equal(r.code, 0);
  t.match(r.stdout, /Examples:\n\s+modgate verify gosum go\.sum/);
  t.equal(r.stderr, '');
});

t.test('a run registers only the command it names; help and unknown names get all', async (t) => {
  const names = async (argv: string[]) => (await buildProgram(argv)).commands.map((c) => c.name());
  t.same(await names(['config', 'check']), ['config']);
  t.same(await names(['pins', 'https://proxy.corp.example']), ['certs', 'pins']);
  const all = await names([]);
  t.ok(all.length >= 9, `every command: ${all.join(' ')}`);
  t.same(await names(['--help']), all);
  t.same(await names(['help', 'serve']), all);
  t.same(await names(['no-such-command']), all, 'so that the usage error can list them');
});
