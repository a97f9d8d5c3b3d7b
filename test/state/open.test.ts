import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { createRedactor } from '../../src/config/redact.js';
import { openState, poolConfig, replicaIdOf } from '../../src/state/open.js';
import { testdir } from '../helpers/testdir.js';

const base = (state: Record<string, unknown>, cluster: Record<string, unknown> = {}) =>
  validateConfig({ dataDir: '/tmp/x', sumdb: 'off', state, cluster });

t.test('the replica id comes from the config, else the host name', async (t) => {
  t.equal(replicaIdOf(base({}, { replicaId: 'eu-1.a' })), 'eu-1.a');
  t.equal(replicaIdOf(base({})), os.hostname().replace(/[^A-Za-z0-9._:-]/g, '-'));
  t.throws(() => base({}, { replicaId: 'bad id/../x' }), { code: 'CONFIG_INVALID' });
});

t.test('the state defaults to local files', async (t) => {
  const c = base({});
  t.equal(c.state.kind, 'local');
  t.equal(c.state.serveCachedWhenDown, true);
  const s = await openState(c, { warn() {}, info() {} });
  t.equal(s.engine, 'local');
  await s.close();
});

t.test('a password is never taken from the config file', async (t) => {
  t.throws(() => base({ kind: 'postgres', postgres: { password: 'x' } }), {
    code: 'CONFIG_INVALID',
  });
  for (const url of ['postgres://u:secret@db.internal/modgate', 'postgres://u@h/db?password=s'])
    t.throws(() => poolConfig(base({ kind: 'postgres', postgres: { url } }), 'r'), {
      code: 'CONFIG_INVALID',
      message: /holds a password: put it in state.postgres.passwordFile, PGPASSWORD or ~\/.pgpass/,
    });
  t.throws(() => poolConfig(base({ kind: 'postgres', postgres: { url: 'not a url' } }), 'r'), {
    code: 'CONFIG_INVALID',
  });
});

t.test('the password file joins the URL and is redacted', async (t) => {
  const dir = testdir(t);
  const file = path.join(dir, 'pw');
  await writeFile(file, 'file-secret-123\n');
  const c = base({
    kind: 'postgres',
    postgres: {
      url: 'postgres://modgate@db.internal:5433/state?sslmode=require',
      passwordFile: file,
    },
  });
  const p = poolConfig(c, 'replica-1');
  t.match(
    p.connectionString,
    /^postgres:\/\/modgate:file-secret-123@db\.internal:5433\/state\?sslmode=require$/,
  );
  t.equal(p.application_name, 'modgate replica-1');
  const redact = createRedactor(c);
  t.notMatch(
    redact(`failed: ${String(p.connectionString)} and file-secret-123`),
    /file-secret-123/,
  );

  const prev = process.env.PGPASSWORD;
  process.env.PGPASSWORD = 'env-secret-456';
  t.teardown(() => {
    if (prev === undefined) delete process.env.PGPASSWORD;
    else process.env.PGPASSWORD = prev;
  });
  const env = base({ kind: 'postgres' });
  t.notMatch(createRedactor(env)('password env-secret-456 leaked'), /env-secret-456/);
  t.same(Object.keys(poolConfig(env, 'r')).includes('connectionString'), false, 'PG* environment');

  await writeFile(file, '\n');
  t.throws(() => poolConfig(c, 'r'), { code: 'CONFIG_INVALID', message: /is empty/ });
  const missing = base({ kind: 'postgres', postgres: { passwordFile: path.join(dir, 'nope') } });
  t.throws(() => poolConfig(missing, 'r'), { code: 'FILE_UNREADABLE' });
});

t.test('an unreachable server stops the start with STATE_UNAVAILABLE', async (t) => {
  const c = base({
    kind: 'postgres',
    postgres: { url: 'postgres://modgate@127.0.0.1:1/state', connectTimeoutMs: 2000 },
  });
  await t.rejects(openState(c, { warn() {}, info() {} }), {
    code: 'STATE_UNAVAILABLE',
    message: /shared state \(postgres\) is unavailable: connecting and migrating/,
  });
});
