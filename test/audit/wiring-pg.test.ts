/** serve's audit wiring with audit.store: postgres writes this replica's chain to the database. */
import t from 'tap';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { openAuditDb, verifyPostgres } from '../../src/audit/pg-read.js';
import { auditReplica, createAudit } from '../../src/wiring.js';
import { startPostgres } from '../helpers/postgres.js';
import { testdir } from '../helpers/testdir.js';

t.test('audit.store postgres: records land in the replica chain, fs untouched', async (t) => {
  const server = await startPostgres();
  t.teardown(() => server.stop());
  const url = await server.createDatabase('wiring');
  const dataDir = testdir(t);
  // The gateway takes no password in the URL: it reads it from a file, as from a mounted secret.
  const bare = new URL(url);
  const pwfile = path.join(dataDir, 'pg-password');
  await writeFile(pwfile, `${decodeURIComponent(bare.password)}\n`, { mode: 0o600 });
  bare.password = '';
  const config = await loadConfig({
    env: {},
    goEnv: async () => '',
    flags: {
      dataDir,
      'audit.store': 'postgres',
      'cluster.replicaId': 'gw-7',
      'state.postgres.url': bare.toString(),
      'state.postgres.passwordFile': pwfile,
    },
  });
  t.equal(auditReplica(config), 'gw-7');
  const trail = await createAudit(config, pino({ level: 'silent' }));
  t.equal(trail.log.healthy, true, String(trail.log.lastError?.message));
  await trail.port.security({ event: 'SUMDB_FORK', details: { module: 'example.com/m' } });
  await trail.log.close();
  const c = await openAuditDb(url);
  t.teardown(() => c.end());
  const v = await verifyPostgres(c, { verifierKey: trail.verifierKey });
  t.match(v, { ok: true, replicas: [{ replica: 'gw-7', records: 3, checkpoints: 1 }] });
  const start = await c.query<{ line: string }>(
    "SELECT line FROM modgate_audit_records WHERE replica = 'gw-7' AND seq = 1",
  );
  t.match(JSON.parse(start.rows[0]?.line ?? '{}'), {
    event: 'start',
    details: { replica: 'gw-7' },
  });
  const { existsSync } = await import('node:fs');
  t.equal(existsSync(path.join(dataDir, 'audit')), false, 'no audit folder is written');
});

t.test('a bad cluster.replicaId is refused by the schema', async (t) => {
  await t.rejects(
    loadConfig({ env: {}, goEnv: async () => '', flags: { 'cluster.replicaId': 'a b' } }),
    { code: 'CONFIG_INVALID' },
  );
});
