import t from 'tap';
import { PgState } from '../../src/state/pg/state.js';
import { SCHEMA_VERSION } from '../../src/state/pg/migrations.js';
import { startPostgres } from '../helpers/postgres.js';
import { stateContract } from './contract.js';

const server = await startPostgres();
t.teardown(() => server.stop());

const opened: PgState[] = [];
t.teardown(() => Promise.all(opened.map((s) => s.close())));
let dbs = 0;

async function open(url: string, replicaId: string): Promise<PgState> {
  const s = await PgState.open({
    pool: { connectionString: url, max: 4, connectionTimeoutMillis: 5000 },
    replicaId,
  });
  opened.push(s);
  return s;
}

async function replicas(n: number): Promise<PgState[]> {
  const url = await server.createDatabase(`contract_${++dbs}`);
  // Opened at once: they race on the migrations too.
  return Promise.all(Array.from({ length: n }, (_, i) => open(url, `pg-${i}`)));
}

stateContract(t, {
  replicas,
  async expire(ms) {
    // Leases run on the server's clock: wait for the ttl to pass there.
    const until = Date.now() + ms + 50;
    while (Date.now() < until) await new Promise((r) => setTimeout(r, until - Date.now() + 1));
  },
});

t.test('replicas starting at once apply the migrations once', async (t) => {
  const url = await server.createDatabase('migrate_race');
  const rs = await Promise.all([0, 1, 2].map((i) => open(url, `m-${i}`)));
  const applied = rs.flatMap((r) => r.migration.applied);
  t.same(applied, [1], 'one replica applied version 1; the others found it applied');
  t.ok(rs.every((r) => r.migration.to === SCHEMA_VERSION));
  const rows = await server.psql(
    'SELECT version FROM modgate_state_schema ORDER BY version',
    'migrate_race',
  );
  t.equal(rows.trim(), String(SCHEMA_VERSION));
});

t.test('a schema newer than the code stops the start', async (t) => {
  const url = await server.createDatabase('migrate_newer');
  await (await open(url, 'old')).close();
  await server.psql(
    `INSERT INTO modgate_state_schema (version, name) VALUES (${SCHEMA_VERSION + 1}, 'from the future')`,
    'migrate_newer',
  );
  await t.rejects(open(url, 'r'), {
    code: 'STATE_SCHEMA_NEWER',
    message: /schema version 2, newer than this modgate understands \(1\)/,
  });
});

t.test('a server that cannot be reached refuses with STATE_UNAVAILABLE', async (t) => {
  const url = `postgres://modgate:wrong-password@127.0.0.1:${server.port}/postgres`;
  await t.rejects(open(url, 'r'), { code: 'STATE_UNAVAILABLE', message: /postgres/ });
  const s = await (await replicas(1))[0]!;
  const other = await startPostgres();
  const gone = await open(other.url, 'gone');
  await other.stop();
  await t.rejects(gone.check(), {
    code: 'STATE_UNAVAILABLE',
    message: /shared state \(postgres\)/,
  });
  await t.rejects(gone.claimTofu('k', 'v'), { code: 'STATE_UNAVAILABLE' });
  await t.rejects(gone.acquire('k', 1000), { code: 'STATE_UNAVAILABLE' });
  await t.rejects(gone.advanceHead('db.test', null, 'n'), { code: 'STATE_UNAVAILABLE' });
  await t.resolves(s.check(), 'the other server is unaffected');
});
