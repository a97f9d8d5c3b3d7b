import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chainRecord, recordHash, ZERO_HASH } from '../../src/audit/records.js';
import { segmentName } from '../../src/audit/segments.js';
import { modgate } from '../helpers/cli.js';
import { repoRoot } from '../helpers/testdata.js';
import { dataDir, decision, env, failsWith } from '../helpers/audit-cli.js';
import { testdir } from '../helpers/testdir.js';

t.test('every reader refuses a missing audit folder with one line naming it', async (t) => {
  const dir = testdir(t);
  const missing = path.join(dir, 'nonexistent');
  const cmds = ['verify', 'query', 'report', 'export'];
  const results = await Promise.all(
    cmds.map((cmd) => modgate(['audit', cmd, '--audit-dir', missing], { cwd: dir, env })),
  );
  cmds.forEach((cmd, i) => {
    const line = failsWith(t, results[i]!, 'AUDIT_DIR_MISSING', cmd);
    t.ok(line.includes(missing), `${cmd}: names the folder`);
  });
  const noData = await modgate(['audit', 'query', '--data', missing], { cwd: dir, env });
  failsWith(t, noData, 'AUDIT_DIR_MISSING', '--data');
});

t.test('bad arguments are one line too', async (t) => {
  const dir = testdir(t);
  failsWith(
    t,
    await modgate(['audit', 'query', '--audit-dir', dir, '--since', 'yesterday'], { env }),
    'AUDIT_QUERY_INVALID',
    'bad --since',
  );
  failsWith(
    t,
    await modgate(['audit', 'query', '--audit-dir', dir, '--format', 'xml'], { env }),
    'AUDIT_QUERY_INVALID',
    'bad format',
  );
  failsWith(t, await modgate(['audit', 'query', '--bogus'], { env }), 'USAGE', 'unknown option');
  failsWith(t, await modgate(['nosuch'], { env }), 'USAGE', 'unknown command');
  failsWith(
    t,
    await modgate(['config', 'check', '--config', path.join(dir, 'none.yaml')], { env }),
    'CONFIG_UNREADABLE',
    'missing config file',
  );
  const help = await modgate(['audit', 'query', '--help'], { env });
  t.equal(help.code, 0);
  t.match(help.stdout, /Examples:\n\s+modgate audit query/);
});

t.test('query, report and export read --data and show KIND and warnings', async (t) => {
  const d = await dataDir(t);
  const csv = await modgate(['audit', 'query', '--data', d.data, '--format', 'csv'], {
    cwd: d.cwd,
    env,
  });
  t.equal(csv.code, 0, csv.stderr);
  t.match(csv.stdout, /^seq,time,type,kind,client,/);
  t.match(csv.stdout, /,decision,mod,ci,example\.com\/m,v1\.0\.1,/);
  const rep = await modgate(['audit', 'report', '--data', d.data], { cwd: d.cwd, env });
  t.equal(rep.code, 0, rep.stderr);
  t.match(rep.stdout, /warn: 3/);
  t.match(rep.stdout, /Warnings by code \(1\)\nCODE\s+COUNT\s+MODULES\nLICENSE_UNKNOWN\s+3/);
  const bom = await modgate(['audit', 'export', '--data', d.data], { cwd: d.cwd, env });
  t.equal(bom.code, 0, bom.stderr);
  const version = (await import(path.join(repoRoot, 'package.json'), { with: { type: 'json' } }))
    .default.version as string;
  t.same(JSON.parse(bom.stdout).metadata.tools.components, [
    { type: 'application', name: 'modgate', version },
  ]);
});

t.test('a reader that closes the pipe early ends the output quietly with exit 0', async (t) => {
  const dir = testdir(t);
  const lines: string[] = [];
  let prev = ZERO_HASH;
  for (let i = 1; i <= 20_000; i++) {
    const { record, line } = chainRecord(decision(i), i, prev, new Date('2026-01-01T00:00:00Z'));
    prev = recordHash(record);
    lines.push(line);
  }
  await writeFile(path.join(dir, segmentName(1, '2026-01-01')), `${lines.join('\n')}\n`);
  const child = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'bin', 'modgate.js'),
      'audit',
      'query',
      '--audit-dir',
      dir,
      '--format',
      'json',
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  let got = 0;
  child.stdout.once('data', (b: Buffer) => {
    got = b.length;
    child.stdout.destroy();
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  t.ok(got > 0, 'some output was read before the pipe closed');
  t.equal(code, 0, 'exit 0');
  t.equal(stderr, '', 'nothing on stderr');
});
