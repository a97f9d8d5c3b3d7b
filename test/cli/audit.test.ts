import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import { chainRecord, recordHash, ZERO_HASH, type DecisionEntry } from '../../src/audit/records.js';
import { segmentName } from '../../src/audit/segments.js';
import { generateKeyPair } from '../../src/integrity/note.js';
import { modgate, type CliResult } from '../helpers/cli.js';
import { repoRoot } from '../helpers/testdata.js';

const env = { GOPROXY: 'off', GOSUMDB: 'off', MODGATE_CONFIG: '' };

function decision(i: number): DecisionEntry {
  return {
    type: 'decision',
    time: new Date().toISOString(),
    requestId: `req-${i}`,
    client: { id: 'ci', method: 'bearer', groups: [], address: '127.0.0.1' },
    kind: i % 2 ? 'mod' : 'zip',
    module: 'example.com/m',
    version: `v1.0.${i}`,
    decision: i % 3 ? 'allow' : 'warn',
    codes: i % 3 ? [] : ['LICENSE_UNKNOWN'],
    policyRevision: 'p1',
    cache: 'miss',
  };
}

/** A gateway-like data folder: data/keys/audit.key and data/audit with two checkpoints. */
async function dataDir(t: Test): Promise<{ data: string; verifierKey: string; cwd: string }> {
  const root = t.testdir();
  const data = path.join(root, 'data');
  const key = await loadOrCreateAuditKey(path.join(data, 'keys', 'audit.key'));
  const log = await AuditLog.open({ dir: path.join(data, 'audit'), key, checkpointIntervalSec: 0 });
  for (let i = 0; i < 6; i++) await log.append(decision(i));
  await log.checkpoint();
  for (let i = 6; i < 9; i++) await log.append(decision(i));
  await log.close();
  // Commands run from an unrelated folder with no ./data of its own.
  const cwd = path.join(root, 'elsewhere');
  await mkdir(cwd);
  return { data, verifierKey: key.verifierKey, cwd };
}

/** Asserts the failure contract: exit 1 and exactly one `error: CODE: message` line on stderr. */
function failsWith(t: Test, r: CliResult, code: string, what: string): string {
  t.equal(r.code, 1, `${what}: exit 1`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 1, `${what}: one stderr line, got ${JSON.stringify(r.stderr)}`);
  t.match(lines[0], new RegExp(`^error: ${code}: \\S`), `${what}: error: ${code}: ...`);
  t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  return lines[0] ?? '';
}

t.test(
  'audit verify reads the state of --data, not ./data, and names the key it used',
  async (t) => {
    const d = await dataDir(t);
    const r = await modgate(['audit', 'verify', '--data', d.data], { cwd: d.cwd, env });
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /audit trail intact: \d+ records, 2 signed checkpoints/);
    t.match(r.stdout, new RegExp(`from ${path.join(d.data, 'keys', 'audit.key')}`));
    // --audit-dir alone finds the key beside the audit folder.
    const viaDir = await modgate(['audit', 'verify', '--audit-dir', path.join(d.data, 'audit')], {
      cwd: d.cwd,
      env,
    });
    t.equal(viaDir.code, 0, viaDir.stderr);
    t.match(viaDir.stdout, /intact/);
    t.notMatch(viaDir.stdout, /BROKEN/);
    // MODGATE_* variables are honoured as by serve.
    const viaEnv = await modgate(['audit', 'verify'], {
      cwd: d.cwd,
      env: { ...env, MODGATE_DATA_DIR: d.data },
    });
    t.equal(viaEnv.code, 0, viaEnv.stderr);
  },
);

t.test('without a key, verify says which key is needed and where to find it', async (t) => {
  const d = await dataDir(t);
  const copy = path.join(d.cwd, 'copy', 'audit');
  await cp(path.join(d.data, 'audit'), copy, { recursive: true });
  const r = await modgate(['audit', 'verify', '--audit-dir', copy], { cwd: d.cwd, env });
  const line = failsWith(t, r, 'AUDIT_VERIFIER_KEY_MISSING', 'no key');
  t.match(line, /--verifier-key/);
  t.match(line, /audit\.verifierKey/);
  t.match(line, /first start/);
  t.notMatch(r.stdout, /BROKEN/, 'not reported as tampering');
  const given = await modgate(
    ['audit', 'verify', '--audit-dir', copy, '--verifier-key', d.verifierKey],
    {
      cwd: d.cwd,
      env,
    },
  );
  t.equal(given.code, 0, given.stderr);
  t.match(given.stdout, /intact.*from --verifier-key/);
});

t.test('checkpoints signed by another key are named, not called tampering', async (t) => {
  const d = await dataDir(t);
  const other = generateKeyPair('modgate-audit').verifier;
  const r = await modgate(['audit', 'verify', '--data', d.data, '--verifier-key', other], {
    cwd: d.cwd,
    env,
  });
  t.equal(r.code, 1, 'not verified: exit 1');
  t.notMatch(r.stdout, /BROKEN/);
  const mine = d.verifierKey.split('+').slice(0, 2).join('+');
  t.match(r.stdout, /NOT VERIFIED: 2 checkpoint\(s\) .* signed by another key/);
  t.match(r.stdout, mine, 'the signing key is named');
});

t.test('a trail whose checkpoints were deleted is called unauthenticated', async (t) => {
  const d = await dataDir(t);
  await rm(path.join(d.data, 'audit', 'checkpoints'), { recursive: true });
  const r = await modgate(['audit', 'verify', '--data', d.data], { cwd: d.cwd, env });
  t.equal(r.code, 0, 'a warning, exit 0 by default');
  t.notMatch(r.stdout, /intact/);
  t.match(r.stdout, /WARNING: audit trail UNAUTHENTICATED/);
  t.match(r.stdout, /audit\.shipUrl or audit\.syslog/);
  const strict = await modgate(['audit', 'verify', '--data', d.data, '--require-checkpoints'], {
    cwd: d.cwd,
    env,
  });
  t.equal(strict.code, 1, '--require-checkpoints makes it fail');
  t.match(strict.stdout, /UNAUTHENTICATED/);
});

t.test('every reader refuses a missing audit folder with one line naming it', async (t) => {
  const dir = t.testdir();
  const missing = path.join(dir, 'nonexistent');
  for (const cmd of ['verify', 'query', 'report', 'export']) {
    const r = await modgate(['audit', cmd, '--audit-dir', missing], { cwd: dir, env });
    const line = failsWith(t, r, 'AUDIT_DIR_MISSING', cmd);
    t.ok(line.includes(missing), `${cmd}: names the folder`);
  }
  const noData = await modgate(['audit', 'query', '--data', missing], { cwd: dir, env });
  failsWith(t, noData, 'AUDIT_DIR_MISSING', '--data');
});

t.test('bad arguments are one line too', async (t) => {
  const dir = t.testdir();
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
  const dir = t.testdir();
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
