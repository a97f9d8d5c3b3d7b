import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/index.js';
import { ERROR_CODES, ModgateError } from '../src/errors.js';
import { statusFor } from '../src/http/errors.js';
import { repoRoot } from './helpers/testdata.js';

async function docs(): Promise<Array<{ file: string; text: string }>> {
  const files = [
    'README.md',
    'certs/README.md',
    ...(await readdir(path.join(repoRoot, 'docs'))).map((f) => `docs/${f}`),
  ];
  return Promise.all(
    files
      .filter((f) => f.endsWith('.md'))
      .map(async (file) => ({ file, text: await readFile(path.join(repoRoot, file), 'utf8') })),
  );
}

/** Every `modgate ...` invocation in code spans and blocks. */
function invocations(text: string): string[] {
  // Shell and YAML blocks hold commands; text blocks show output and formats.
  const snippets = [...text.matchAll(/```(?:sh|bash|yaml)\n([\s\S]*?)```/g)].flatMap((m) =>
    m[1]!.split('\n').map((l) => l.replace(/#.*$/, '')),
  );
  snippets.push(...[...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!));
  return snippets.flatMap((s) =>
    [
      ...s.matchAll(
        /\bmodgate ((?:[a-z][a-z-]*|--[a-z][a-z-]*|[A-Z][A-Z.:|_ -]*|\S+)(?: (?!\||&&|;)\S+)*)/g,
      ),
    ].map((m) => m[1]!),
  );
}

function resolve(program: Command, words: string[]): { cmd: Command; rest: string[] } {
  let cmd = program;
  let i = 0;
  for (; i < words.length; i++) {
    const sub = cmd.commands.find((c) => c.name() === words[i]);
    if (!sub) break;
    cmd = sub;
  }
  return { cmd, rest: words.slice(i) };
}

t.test('every modgate command and option in the docs exists', async (t) => {
  const program = await buildProgram();
  let checked = 0;
  for (const { file, text } of await docs()) {
    for (const inv of invocations(text)) {
      const words = inv.split(/\s+/).filter(Boolean);
      if (!words[0] || !/^[a-z]/.test(words[0])) continue;
      const { cmd, rest } = resolve(program, words);
      t.not(cmd, program, `${file}: "modgate ${inv}" names a command`);
      t.equal(
        cmd.commands.length === 0 || rest.length === 0 || rest[0]!.startsWith('-')
          ? 'ok'
          : `unknown subcommand ${rest[0]}`,
        'ok',
        `${file}: modgate ${inv}`,
      );
      const known = new Set(cmd.options.flatMap((o) => [o.long, o.short]).filter(Boolean));
      known.add('--help');
      for (const flag of rest
        .filter((w) => w.startsWith('--'))
        .map((w) => w.replace(/[=,.)`'"].*$/, ''))) {
        t.ok(known.has(flag), `${file}: ${flag} is an option of "modgate ${cmd.name()}"`);
      }
      checked++;
    }
  }
  t.ok(checked > 20, `${checked} documented invocations checked`);
});

t.test('docs/errors.md lists every error code once, with its status', async (t) => {
  const doc = await readFile(path.join(repoRoot, 'docs', 'errors.md'), 'utf8');
  const documented = new Map<string, number>();
  for (const row of doc.matchAll(/^\| ((?:`[A-Z][A-Z0-9_]+`(?:, )?)+) \| (\d{3})\b[^|]* \|/gm)) {
    for (const m of row[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) {
      t.notOk(documented.has(m[1]!), `${m[1]} is listed once`);
      documented.set(m[1]!, Number(row[2]));
    }
  }
  t.ok(ERROR_CODES.length > 30);
  for (const code of ERROR_CODES) {
    t.equal(documented.get(code), statusFor(new ModgateError(code, 'x')), `${code} and its status`);
  }
  const known = new Set<string>(ERROR_CODES);
  const stale = [...documented.keys()].filter((c) => !known.has(c));
  t.same(stale, [], 'no documented code that modgate cannot raise');
});

t.test('every code raised in src is a literal of the union', async (t) => {
  // The compiler checks this already; the scan catches a code built at run time by a cast.
  const known = new Set<string>(ERROR_CODES);
  const walk = async (dir: string): Promise<string[]> => {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) out.push(...(await walk(p)));
      else if (p.endsWith('.ts'))
        for (const m of (await readFile(p, 'utf8')).matchAll(
          /new ModgateError\(\s*'([A-Z][A-Z0-9_]+)'/g,
        ))
          out.push(m[1]!);
    }
    return out;
  };
  const raised = await walk(path.join(repoRoot, 'src'));
  t.ok(raised.length > 100, `${raised.length} throw sites`);
  t.same(
    raised.filter((c) => !known.has(c)),
    [],
    'all in ERROR_CODES',
  );
});
