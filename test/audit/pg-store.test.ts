import t, { type Test } from 'tap';
import pg from 'pg';
import path from 'node:path';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import { verifyPostgres } from '../../src/audit/pg-read.js';
import { PgChainStore } from '../../src/audit/pg-store.js';
import type { AuditRecord } from '../../src/audit/records.js';
import { startPostgres } from '../helpers/postgres.js';
import { chainStoreContract, entry } from './store-contract.js';
import { testdir } from '../helpers/testdir.js';

const server = await startPostgres();
t.teardown(() => server.stop());
let dbs = 0;

async function rowsOf(url: string, replica: string): Promise<AuditRecord[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ line: string }>(
      'SELECT line FROM modgate_audit_records WHERE replica = $1 ORDER BY seq',
      [replica],
    );
    return r.rows.map((x) => JSON.parse(x.line) as AuditRecord);
  } finally {
    await c.end();
  }
}

async function chain(t: Test, replica = 'r1') {
  const url = await server.createDatabase(`audit_${++dbs}`);
  const key = await loadOrCreateAuditKey(path.join(testdir(t), 'audit.key'));
  return { url, key, replica };
}

chainStoreContract(t, 'postgres', async (t) => {
  const { url, key, replica } = await chain(t);
  return {
    key,
    store: () => new PgChainStore({ url, replica, verifierKey: key.verifierKey }),
    async verify() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const v = await verifyPostgres(c, { verifierKey: key.verifierKey });
        t.equal(v.replicas.length, 1, 'one replica');
        return v.replicas[0] as NonNullable<(typeof v.replicas)[0]>;
      } finally {
        await c.end();
      }
    },
    records: () => rowsOf(url, replica),
    async edit(seq, change) {
      const rows = await rowsOf(url, replica);
      const rec = rows.find((r) => r.seq === seq);
      if (!rec) throw new Error(`no record ${seq}`);
      const line = change(JSON.stringify(rec));
      await server.psql(
        `UPDATE modgate_audit_records SET line = '${line.replace(/'/g, "''")}' WHERE replica = '${replica}' AND seq = ${seq}`,
        url.split('/').at(-1),
      );
    },
  };
});

t.test('a second live writer of one replica is refused, another replica is not', async (t) => {
  const { url, key } = await chain(t);
  const opts = { key, checkpointIntervalSec: 0, retryAfterMs: 60_000 };
  const a = await AuditLog.open({
    ...opts,
    store: new PgChainStore({ url, replica: 'a', verifierKey: key.verifierKey }),
  });
  const again = await AuditLog.open({
    ...opts,
    store: new PgChainStore({ url, replica: 'a', verifierKey: key.verifierKey }),
  });
  t.equal(a.healthy, true);
  t.equal(again.healthy, false, 'the second writer of replica a is unhealthy');
  t.match(again.lastError, { code: 'AUDIT_UNAVAILABLE', details: { cause: 'AUDIT_REPLICA_BUSY' } });
  await t.rejects(again.append(entry(1)), { code: 'AUDIT_UNAVAILABLE' });
  const b = await AuditLog.open({
    ...opts,
    store: new PgChainStore({ url, replica: 'b', verifierKey: key.verifierKey }),
  });
  t.equal(b.healthy, true, 'replica b writes beside a');
  await Promise.all([
    ...Array.from({ length: 50 }, (_, i) => a.append(entry(i))),
    ...Array.from({ length: 50 }, (_, i) => b.append(entry(i))),
  ]);
  await Promise.all([a.close(), b.close(), again.close()]);
  t.equal((await rowsOf(url, 'a')).length, 52);
  t.equal((await rowsOf(url, 'b')).length, 52);
});

t.test(
  'a tail edited after the newest checkpoint stops the writer from continuing it',
  async (t) => {
    const { url, key } = await chain(t);
    const store = () => new PgChainStore({ url, replica: 'r', verifierKey: key.verifierKey });
    const first = store();
    const log = await AuditLog.open({ store: first, key, checkpointIntervalSec: 0 });
    for (let i = 0; i < 4; i++) await log.append(entry(i));
    const cp = await log.checkpoint();
    t.equal(cp?.seq, 5);
    for (let i = 4; i < 8; i++) await log.append(entry(i));
    // A crash: the session ends with records after the newest checkpoint.
    await first.close();
    t.equal((await rowsOf(url, 'r')).length, 10);
    const db = url.split('/').at(-1);
    await server.psql(
      `UPDATE modgate_audit_records SET line = replace(line, '"req-5"', '"req-X"') WHERE replica = 'r'`,
      db,
    );
    await t.rejects(AuditLog.open({ store: store(), key, checkpointIntervalSec: 0 }), {
      code: 'AUDIT_CORRUPT',
      details: { replica: 'r' },
    });
    await server.psql(`DELETE FROM modgate_audit_records WHERE replica = 'r' AND seq > 3`, db);
    await t.rejects(
      AuditLog.open({ store: store(), key, checkpointIntervalSec: 0 }),
      { code: 'AUDIT_CORRUPT', message: /truncated/ },
      'a chain cut before its newest checkpoint is not continued',
    );
  },
);

t.test('an unreachable database leaves the log unhealthy, not crashed', async (t) => {
  const key = await loadOrCreateAuditKey(path.join(testdir(t), 'audit.key'));
  const dead = `postgres://nobody:x@127.0.0.1:1/none`;
  const log = await AuditLog.open({
    store: new PgChainStore({ url: dead, replica: 'r', verifierKey: key.verifierKey }),
    key,
    checkpointIntervalSec: 0,
  });
  t.equal(log.healthy, false);
  await t.rejects(log.append(entry(1)), { code: 'AUDIT_UNAVAILABLE' });
  await log.close();
});
