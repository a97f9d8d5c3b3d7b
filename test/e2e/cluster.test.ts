import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import {
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { modgate } from '../helpers/cli.js';
import { createFakeSumdb } from '../helpers/fake-sumdb.js';
import { makeModule, startFakeUpstream, sumdbRecords } from '../helpers/fake-upstream.js';
import { goEnv, runGo } from '../helpers/gocmd.js';
import { startPostgres } from '../helpers/postgres.js';
import { startVersitygw } from '../helpers/versitygw.js';
import {
  fresh,
  get,
  killHard,
  serveSumdb,
  spawnReplica,
  stopGracefully,
  until,
  writeStateKey,
  type ChildReplica,
} from './cluster-rig.js';
import { testdir } from '../helpers/testdir.js';

/*
 * Three `modgate serve` processes, each with its own config file and data folder, share one
 * PostgreSQL database (state and audit chains) and one S3 bucket (versitygw), in front of a
 * test upstream and a test checksum database. The real go command downloads through them.
 */
const root = testdir(t);
const pg = await startPostgres();
const s3 = await startVersitygw({ bucket: 'modgate-e2e' });
const db = 'cluster_e2e';
await pg.createDatabase(db);

const mods: Awaited<ReturnType<typeof makeModule>>[] = [];
for (let i = 0; i < 6; i++) mods.push(await makeModule(`example.com/m${i}`, 'v1.0.0'));
// Large enough to span several multipart parts, and served slowly: a fetch to kill.
const slow = await makeModule('example.com/slow', 'v1.0.0', { 'blob.bin': randomBytes(12 << 20) });
const priv = await makeModule('corp.example/lib', 'v1.0.0');
const privEvil = await makeModule('corp.example/lib', 'v1.0.0', { 'x.go': 'package x // evil\n' });
const core = await createFakeSumdb({ records: await sumdbRecords([...mods, slow], root) });
const honest = await serveSumdb(core);
const lying = await serveSumdb(core);
const up = await startFakeUpstream([...mods, slow, priv]);

const pwfile = path.join(root, 'pg-password');
await writeFile(pwfile, `${pg.password}\n`, { mode: 0o600 });
const auditKey = path.join(root, 'audit.key');
await loadOrCreateAuditKey(auditKey);
const stateKey = `${randomBytes(32).toString('hex')}\n`;
const env = {
  GOPROXY: 'off',
  AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  AWS_REGION: s3.region,
};

function configOf(id: string, sumdbUrl: string): string {
  return [
    `dataDir: ${path.join(root, id)}`,
    `upstream: ${up.url}`,
    `sumdb: '${core.verifierKey} ${sumdbUrl}'`,
    `routes: [{pattern: corp.example, upstream: '${up.url}', private: true}]`,
    `allowHttpUpstream: true`,
    `pinning: optional`,
    `tls: {insecureHttp: true}`,
    `log: {level: error}`,
    // One process per replica: the replicas are the nodes of this cluster.
    `server: {workers: 1}`,
    `http: {retries: 0}`,
    `storage:`,
    `  kind: s3`,
    `  s3: {bucket: ${s3.bucket}, region: ${s3.region}, endpoint: '${s3.endpoint}', forcePathStyle: true, partSizeBytes: 5242880}`,
    `cluster: {replicaId: ${id}, leaseTtlMs: 3000, leasePollMs: 50}`,
    `state:`,
    `  kind: postgres`,
    `  postgres: {url: 'postgres://${pg.user}@127.0.0.1:${pg.port}/${db}', passwordFile: ${pwfile}}`,
    `audit: {store: postgres, keyFile: ${auditKey}, checkpointSeconds: 1}`,
    '',
  ].join('\n');
}

const replicas: ChildReplica[] = [];
async function start(id: string): Promise<ChildReplica> {
  await writeStateKey(path.join(root, id), stateKey);
  const sumdbUrl = id === 'gw-a' ? lying.url : honest.url;
  return spawnReplica(id, path.join(root, `${id}.yaml`), configOf(id, sumdbUrl), env);
}
for (const id of ['gw-a', 'gw-b', 'gw-c']) replicas.push(await start(id));
t.teardown(async () => {
  await Promise.all(replicas.map((r) => stopGracefully(r)));
  await up.close();
  await honest.close();
  await lying.close();
  await fresh.close();
  await s3.close();
  await pg.stop();
});
const at = (id: string) => replicas.find((r) => r.id === id)!;

async function keys(): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

async function goDownload(via: ChildReplica, specs: string[], name: string) {
  const dir = path.join(root, `go-${name}`);
  const goenv = await goEnv(dir, { GOPROXY: via.url, GOSUMDB: core.verifierKey });
  return runGo(['mod', 'download', '-json', ...specs], {
    cwd: dir,
    env: goenv,
    timeoutMs: 180_000,
  });
}

t.test('go downloads through the replicas in turn: one upstream fetch per artifact', async (t) => {
  const spec = (i: number) => `${mods[i]!.path}@v1.0.0`;
  const turns = [
    ['gw-a', [0, 1]],
    ['gw-b', [2, 3]],
    ['gw-c', [4, 5]],
  ] as const;
  for (const [id, which] of turns) {
    const res = await goDownload(at(id), which.map(spec), `first-${id}`);
    t.equal(res.code, 0, `${id}: ${res.stderr}`);
  }
  // Each replica now serves the whole set to a fresh go, from the shared bucket.
  for (const id of ['gw-a', 'gw-b', 'gw-c']) {
    const res = await goDownload(
      at(id),
      mods.map((_, i) => spec(i)),
      `again-${id}`,
    );
    t.equal(res.code, 0, `${id} again: ${res.stderr}`);
    t.match(res.stdout, /"Sum": "h1:/);
  }
  for (const m of mods) {
    for (const ext of ['info', 'mod', 'zip']) {
      const p = `/${m.path}/@v/v1.0.0.${ext}`;
      t.equal(up.count(p), 1, `${p}: one upstream fetch in the cluster`);
    }
  }
  t.ok(
    (await keys()).some((k) => k.includes('example.com/m5')),
    'artifacts are in the bucket',
  );
});

t.test('a TOFU entry made through A binds B', async (t) => {
  const p = '/corp.example/lib/@v/v1.0.0.zip';
  const first = await get(`${at('gw-a').url}${p}`);
  t.equal(
    first.status,
    200,
    `A trusts the private module first${first.status === 200 ? '' : `: ${first.body}`}`,
  );
  // The bucket loses the artifact (an operator purge): B must fetch it again.
  for (const k of (await keys()).filter((k) => k.includes('corp.example'))) {
    await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: k }));
  }
  up.remove(priv.path, priv.version);
  up.add(privEvil);
  const res = await get(`${at('gw-b').url}${p}`);
  t.not(res.status, 200, 'B refuses other bytes for the same version');
  t.match(res.body, /SECURITY ERROR/, res.body);
  t.equal(up.count(p), 2, 'B did fetch them to compare');
  const audited = await pg.psql(
    "SELECT count(*) FROM modgate_audit_records WHERE replica = 'gw-b' AND line LIKE '%CHECKSUM_MISMATCH%'",
    db,
  );
  t.ok(Number(audited.trim()) >= 1, "the refusal is in B's audit chain");
  t.same(
    (await keys()).filter((k) => k.includes('corp.example/lib/@v/v1.0.0.zip')),
    [],
    'nothing of the refused zip was stored',
  );
});

t.test('kill -9 during a fetch leaves nothing partial, and the others keep serving', async (t) => {
  const p = '/example.com/slow/@v/v1.0.0.zip';
  up.misbehave(p, { kind: 'drip', bytesPerTick: 256 << 10, tickMs: 50 });
  const b = at('gw-b');
  const pending = get(`${b.url}${p}`).catch((err: Error) => ({ status: -1, body: err.message }));
  await until('the upstream to start sending the slow zip', () => up.count(p) === 1);
  await killHard(b);
  t.equal((await pending).status, -1, 'the client saw the connection die');
  up.misbehave(p, null);
  // The zip's facts (its .info) are fetched meanwhile, and the kill may leave
  // the .info's evidence without its bytes (which reads as absent: evidence is
  // written first). Of the zip itself, neither bytes nor evidence may be there.
  const left = (await keys()).filter((k) => k.includes('example.com/slow/@v/v1.0.0.zip'));
  t.same(left, [], 'no object of it in S3');
  const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
  t.same(uploads.Uploads ?? [], [], 'no open multipart upload');
  for (const id of ['gw-a', 'gw-c']) {
    const res = await get(`${at(id).url}/${mods[0]!.path}/@v/v1.0.0.zip`);
    t.equal(res.status, 200, `${id} still serves`);
  }
  // The dead holder's lease expires; another replica fetches the artifact whole.
  const again = await get(`${at('gw-c').url}${p}`);
  t.equal(again.status, 200, 'C fetches it after the lease of the killed replica lapsed');
  t.ok(
    (await keys()).some((k) => k.includes('example.com/slow/@v/v1.0.0.zip')),
    'now stored whole',
  );
  replicas[replicas.indexOf(b)] = await start('gw-b');
  const res = await get(`${at('gw-b').url}/${mods[1]!.path}/@v/v1.0.0.mod`);
  t.equal(res.status, 200, 'the restarted replica serves and continues its chain');
});

t.test('a fork shown to A is refused by B and C', async (t) => {
  lying.forge();
  const seen = await get(`${at('gw-a').url}/sumdb/${core.name}/latest`);
  t.not(seen.status, 200, 'A refuses the forked head');
  t.match(seen.body, /SECURITY ERROR/);
  const recorded = await pg.psql('SELECT recorded_by FROM modgate_forks', db);
  t.equal(recorded.trim(), 'gw-a', 'A recorded the evidence in the shared state');
  const fresh = await makeModule('example.com/late', 'v1.0.0');
  up.add(fresh);
  for (const id of ['gw-b', 'gw-c']) {
    const res = await get(`${at(id).url}/example.com/late/@v/v1.0.0.mod`);
    t.equal(res.status, 502, `${id} refuses a cold fetch`);
    t.match(res.body, /SUMDB_FORK/);
    const relay = await get(`${at(id).url}/sumdb/${core.name}/latest`);
    t.equal(relay.status, 502, `${id}'s checksum-database relay refuses`);
  }
  t.same(
    (await keys()).filter((k) => k.includes('example.com/late')),
    [],
    'nothing of it was stored',
  );
});

t.test('audit verify passes over every chain, and an edited record is caught', async (t) => {
  const cfg = at('gw-c').config;
  const ok = await modgate(['audit', 'verify', '--config', cfg], { env, timeoutMs: 120_000 });
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  for (const id of ['gw-a', 'gw-b', 'gw-c']) t.match(ok.stdout, new RegExp(`replica ${id}: OK`));
  const decisions = await pg.psql(
    "SELECT count(*) FROM modgate_audit_records WHERE line LIKE '%SUMDB_FORK%'",
    db,
  );
  t.ok(Number(decisions.trim()) >= 2, 'the refusals are in the trail');
  await pg.psql(
    `UPDATE modgate_audit_records SET line = replace(line, '"allow"', '"deny"')
       WHERE replica = 'gw-b' AND seq = (SELECT min(seq) FROM modgate_audit_records
         WHERE replica = 'gw-b' AND line LIKE '%"allow"%')`,
    db,
  );
  const bad = await modgate(['audit', 'verify', '--config', cfg], { env, timeoutMs: 120_000 });
  t.equal(bad.code, 1, 'verify fails');
  t.match(bad.stdout + bad.stderr, /BROKEN in replica gw-b/);
});
