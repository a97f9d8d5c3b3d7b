/**
 * `modgate audit verify|query|report|export` over two replicas' chains in a
 * real PostgreSQL: both written concurrently, verified together, and every
 * kind of tampering (edit in either chain, deleted row, reordered rows, cut
 * tail) caught with the replica and seq named.
 */
import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import { PgChainStore } from '../../src/audit/pg-store.js';
import { modgate } from '../helpers/cli.js';
import { decision, env } from '../helpers/audit-cli.js';
import { startPostgres } from '../helpers/postgres.js';
import { testdir } from '../helpers/testdir.js';

const server = await startPostgres();
t.teardown(() => server.stop());
let dbs = 0;

/** Two replicas write 40 records each at the same time, with a checkpoint in the middle. */
async function cluster(t: Test) {
  const name = `cli_${++dbs}`;
  const url = await server.createDatabase(name);
  const root = testdir(t);
  const keyFile = path.join(root, 'audit.key');
  const key = await loadOrCreateAuditKey(keyFile);
  const shipped: Buffer[] = [];
  const logs = await Promise.all(
    ['a', 'b'].map((replica) =>
      AuditLog.open({
        store: new PgChainStore({ url, replica, verifierKey: key.verifierKey }),
        key,
        checkpointIntervalSec: 0,
        onCheckpoint: (cp) => void shipped.push(cp.note),
      }),
    ),
  );
  const write = (from: number, to: number) =>
    Promise.all(
      logs.flatMap((log, n) =>
        Array.from({ length: to - from }, (_, i) => log.append(decision(n * 1000 + from + i))),
      ),
    );
  await write(0, 20);
  await Promise.all(logs.map((l) => l.checkpoint()));
  await write(20, 40);
  await Promise.all(logs.map((l) => l.close()));
  // What a collector that appends every shipped note to one file holds.
  const shippedFile = path.join(root, 'received.notes');
  await writeFile(shippedFile, Buffer.concat(shipped));
  const sql = (q: string) => server.psql(q, name);
  const run = (args: string[]) =>
    modgate(['audit', ...args, '--postgres', url], { cwd: root, env });
  const verify = () => run(['verify', '--verifier-key', key.verifierKey]);
  return { url, key, keyFile, root, sql, run, verify, shippedFile };
}

t.test('two replicas written concurrently verify together, per replica', async (t) => {
  const c = await cluster(t);
  const r = await c.verify();
  t.equal(r.code, 0, r.stdout + r.stderr);
  // start + 20 + checkpoint record + 20 + stop = 43 records each
  t.match(r.stdout, /^replica a: OK: 43 records, 2 signed checkpoints, 0 records after/m);
  t.match(r.stdout, /^replica b: OK: 43 records, 2 signed checkpoints/m);
  t.match(r.stdout, /audit trail intact: 2 replica\(s\) in postgres:\/\/modgate:\*\*\*@/);
  t.notMatch(r.stdout + r.stderr, new RegExp(server.password), 'the password is not printed');
});

t.test('an edited record in either chain is caught, naming replica and seq', async (t) => {
  for (const replica of ['a', 'b']) {
    const c = await cluster(t);
    await c.sql(
      `UPDATE modgate_audit_records SET line = replace(line, '"req-', '"req-X') WHERE replica = '${replica}' AND seq = 5`,
    );
    // The attacker also fixes the derived hash column: only the chain can tell.
    await c.sql(
      `UPDATE modgate_audit_records SET hash = encode(sha256(convert_to(line, 'UTF8')), 'hex') WHERE replica = '${replica}' AND seq = 5`,
    );
    const r = await c.verify();
    t.equal(r.code, 1, `${replica}: exit 1`);
    t.match(
      r.stdout,
      new RegExp(`audit trail BROKEN in replica ${replica} at record 5: .*modified`),
    );
    const other = replica === 'a' ? 'b' : 'a';
    t.match(r.stdout, new RegExp(`^replica ${other}: OK`, 'm'), 'the other chain is fine');
  }
});

t.test('a deleted row, reordered rows and a cut tail are each caught', async (t) => {
  const del = await cluster(t);
  await del.sql(`DELETE FROM modgate_audit_records WHERE replica = 'b' AND seq = 30`);
  let r = await del.verify();
  t.equal(r.code, 1);
  t.match(r.stdout, /BROKEN in replica b at record 30: expected record 30, found 31/);

  const swap = await cluster(t);
  await swap.sql(
    `UPDATE modgate_audit_records r SET line = o.line, hash = o.hash, time = o.time
       FROM modgate_audit_records o
      WHERE r.replica = 'a' AND o.replica = 'a' AND r.seq IN (10, 11) AND o.seq = 21 - r.seq`,
  );
  r = await swap.verify();
  t.equal(r.code, 1);
  t.match(r.stdout, /BROKEN in replica a at record 10: row 10 holds record 11/);

  const cut = await cluster(t);
  await cut.sql(`DELETE FROM modgate_audit_records WHERE replica = 'a' AND seq > 35`);
  r = await cut.verify();
  t.equal(r.code, 1);
  t.match(r.stdout, /BROKEN in replica a at record 36: .*truncated/);
});

t.test('shipped checkpoints catch a replica cut together with its checkpoints', async (t) => {
  const c = await cluster(t);
  const withShipped = () =>
    c.run(['verify', '--verifier-key', c.key.verifierKey, '--shipped', c.shippedFile]);
  let r = await withShipped();
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.match(r.stdout, /^replica a: OK: 43 records, 2 signed/m, 'shipped notes go to their replica');
  await c.sql(`DELETE FROM modgate_audit_records WHERE replica = 'b' AND seq > 30`);
  await c.sql(`DELETE FROM modgate_audit_checkpoints WHERE replica = 'b' AND seq > 30`);
  r = await c.verify();
  t.equal(r.code, 0, 'cut with its checkpoints, the database alone cannot tell');
  t.match(r.stdout, /^replica b: OK: 30 records, 1 signed checkpoints/m);
  r = await withShipped();
  t.equal(r.code, 1, 'the shipped checkpoints can');
  t.match(r.stdout, /BROKEN in replica b at record 31: .*truncated/);
  await c.sql(`DELETE FROM modgate_audit_checkpoints WHERE replica = 'b'`);
  r = await c.verify();
  t.equal(r.code, 0, 'without shipped notes, a cut chain with no checkpoints only warns');
  t.match(r.stdout, /UNAUTHENTICATED in replica\(s\) b/);
  r = await withShipped();
  t.equal(r.code, 1);
  t.match(r.stdout, /BROKEN in replica b at record 31: .*truncated/);
  await c.sql(`DELETE FROM modgate_audit_records WHERE replica = 'b'`);
  r = await withShipped();
  t.equal(r.code, 1, 'a replica deleted whole is still named by what it shipped');
  t.match(r.stdout, /BROKEN in replica b at record 1: .*truncated/);
});

t.test('query, report and export give the union of the chains', async (t) => {
  const c = await cluster(t);
  let r = await c.run(['query', '--format', 'json', '--client', 'ci']);
  t.equal(r.code, 0, r.stderr);
  const recs = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { replica: string; requestId: string });
  t.equal(recs.length, 80, '40 decisions from each replica');
  t.equal(recs.filter((x) => x.replica === 'a').length, 40);
  t.equal(new Set(recs.map((x) => x.requestId)).size, 80);
  r = await c.run(['query', '--format', 'csv', '--replica', 'b', '--client', 'ci']);
  const rows = r.stdout.trim().split('\r\n');
  t.equal(rows[0]?.split(',')[0], 'replica');
  t.equal(rows.length, 41, 'header and the 40 decisions of b');
  t.ok(rows.slice(1).every((l) => l.startsWith('b,')));
  r = await c.run(['report', '--format', 'json']);
  t.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as { decisions: { allow: number; warn: number } };
  t.equal(rep.decisions.allow + rep.decisions.warn, 80);
  r = await c.run(['export']);
  t.equal(r.code, 0, r.stderr);
  const bom = JSON.parse(r.stdout) as { components: { name: string; version: string }[] };
  t.ok(bom.components.length > 0, 'modules served by both replicas are listed');
});

t.test('a database without audit tables is one clear error', async (t) => {
  const url = await server.createDatabase(`empty_${++dbs}`);
  const r = await modgate(['audit', 'query', '--postgres', url], { cwd: testdir(t), env });
  t.equal(r.code, 1);
  t.match(r.stderr, /^error: AUDIT_DB_UNREADABLE: no audit tables/);
  const down = `postgres://auditor:s3cret-pw@127.0.0.1:1/none`;
  for (const cmd of ['verify', 'query', 'report', 'export']) {
    const key = cmd === 'verify' ? ['--verifier-key', 'unused'] : [];
    const d = await modgate(['audit', cmd, '--postgres', down, ...key], { cwd: testdir(t), env });
    t.equal(d.code, 1, `${cmd}: exit 1`);
    t.match(
      d.stderr,
      /^error: AUDIT_DB_UNREADABLE: cannot read the audit store at postgres:\/\/auditor:\*\*\*@/,
    );
    t.notMatch(d.stderr, /s3cret-pw/, `${cmd}: the password is not printed`);
  }
});
