import t from 'tap';
import { cp, rm } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair } from '../../src/integrity/note.js';
import { modgate } from '../helpers/cli.js';
import { dataDir, env, failsWith } from '../helpers/audit-cli.js';

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

t.test('a file named on the command line that cannot be read is one line too', async (t) => {
  const d = await dataDir(t);
  const missing = path.join(d.cwd, 'received.notes');
  const r = await modgate(['audit', 'verify', '--data', d.data, '--shipped', missing], {
    cwd: d.cwd,
    env,
  });
  const line = failsWith(t, r, 'FILE_UNREADABLE', '--shipped missing');
  t.ok(line.includes(missing), 'names the file');
});
