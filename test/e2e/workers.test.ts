import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { modgate } from '../helpers/cli.js';
import { createFakeSumdb } from '../helpers/fake-sumdb.js';
import { makeModule, startFakeUpstream, sumdbRecords } from '../helpers/fake-upstream.js';
import { goEnv, runGo } from '../helpers/gocmd.js';
import { fresh, get, serveSumdb } from './cluster-rig.js';
import { alive, spawnWorkers, stopNode, waitFor, type WorkerNode } from './workers-rig.js';
import { testdir } from '../helpers/testdir.js';

/*
 * One node, one `modgate serve --workers 2` on the embedded defaults (local state, fs store, fs
 * audit): two worker processes behind one listen address share the store, the state and the
 * audit folder. The real go command downloads a module graph through them.
 */
const root = testdir(t);
const data = path.join(root, 'data');
const leaves: Awaited<ReturnType<typeof makeModule>>[] = [];
for (let i = 1; i <= 5; i++) leaves.push(await makeModule(`example.com/m${i}`, 'v1.0.0'));
const requires = leaves.map((m) => `\t${m.path} v1.0.0`).join('\n');
const top = await makeModule('example.com/m0', 'v1.0.0', {
  'go.mod': `module example.com/m0\n\ngo 1.21\n\nrequire (\n${requires}\n)\n`,
});
const mods = [top, ...leaves];
const slow = await makeModule('example.com/slow', 'v1.0.0', { 'blob.bin': randomBytes(4 << 20) });
const hot = await makeModule('example.com/hot', 'v1.0.0');
const priv = await makeModule('corp.example/lib', 'v1.0.0');
const privEvil = await makeModule('corp.example/lib', 'v1.0.0', { 'x.go': 'package x // evil\n' });
const core = await createFakeSumdb({ records: await sumdbRecords([...mods, slow, hot], root) });
const sumdb = await serveSumdb(core);
const up = await startFakeUpstream([...mods, slow, hot, priv]);
const env = { GOPROXY: 'off', MODGATE_CONFIG: '' };
const config = path.join(root, 'modgate.yaml');
const yaml = [
  `dataDir: ${data}`,
  `upstream: ${up.url}`,
  `sumdb: '${core.verifierKey} ${sumdb.url}'`,
  `routes: [{pattern: corp.example, upstream: '${up.url}', private: true}]`,
  `allowHttpUpstream: true`,
  `pinning: optional`,
  `tls: {insecureHttp: true}`,
  `log: {level: info}`,
  `http: {retries: 0}`,
  // A lease that outlives the test: a dead worker's lease must be freed by its exit, not its ttl.
  `cluster: {replicaId: node-a, leaseTtlMs: 600000, leasePollMs: 50}`,
  `audit: {checkpointSeconds: 1}`,
  // No in-process memory cache: what a test removes from the shared store is gone for both workers.
  `cache: {memoryBytes: 0}`,
  '',
].join('\n');

let node: WorkerNode = await spawnWorkers(config, yaml, 2, env);
t.teardown(async () => {
  // Bounded: a node that does not drain within 30 s is killed, so that the
  // servers below are still closed (draining itself is asserted by a test).
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    stopNode(node).then(() => true),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), 30_000))),
  ]);
  clearTimeout(timer);
  if (!drained) {
    for (const pid of node.workers.values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
    node.primary.kill('SIGKILL');
  }
  await Promise.allSettled([up.close(), sumdb.close(), fresh.close()]);
});

const completed: string[] = [];

/** GET with retries on a dead connection (as the go command retries); returns modgate's request id. */
async function getRetrying(
  url: string,
  tries = 40,
): Promise<{ status: number; body: string; id?: string }> {
  let last = '';
  for (let i = 0; i < tries; i++) {
    try {
      const res = await request(url, { dispatcher: fresh, headersTimeout: 60_000 });
      const body = await res.body.text();
      const id = res.headers['x-request-id'];
      return { status: res.statusCode, body, ...(typeof id === 'string' ? { id } : {}) };
    } catch (err) {
      last = (err as Error).message;
      // A worker died under this request: the client retries.
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url}: every try failed: ${last}`);
}

t.test('one upstream fetch per artifact across workers, and go downloads the graph', async (t) => {
  // The zips drip, so that concurrent requests on separate connections (both workers) overlap.
  for (const m of mods)
    up.misbehave(`/${m.path}/@v/v1.0.0.zip`, { kind: 'drip', bytesPerTick: 64, tickMs: 20 });
  const burst = mods.flatMap((m) =>
    Array.from({ length: 6 }, () => get(`${node.url}/${m.path}/@v/v1.0.0.zip`)),
  );
  const answers = await Promise.all(burst);
  t.same(
    answers.filter((a) => a.status !== 200).map((a) => a.body),
    [],
    'every concurrent request is served',
  );
  for (const m of mods) up.misbehave(`/${m.path}/@v/v1.0.0.zip`, null);

  const dir = path.join(root, 'go-app');
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, 'go.mod'),
    'module example.com/app\n\ngo 1.21\n\nrequire example.com/m0 v1.0.0\n',
  );
  const goenv = await goEnv(dir, {
    GOPROXY: node.url,
    GOSUMDB: core.verifierKey,
    GOFLAGS: '-mod=mod -modcacherw',
  });
  const res = await runGo(['mod', 'download', '-json', 'all'], {
    cwd: dir,
    env: goenv,
    timeoutMs: 180_000,
  });
  t.equal(res.code, 0, res.stderr);
  for (const m of mods) t.match(res.stdout, `"Path": "${m.path}"`, `go downloaded ${m.path}`);
  for (const m of mods) {
    for (const ext of ['info', 'mod', 'zip']) {
      const p = `/${m.path}/@v/v1.0.0.${ext}`;
      t.equal(up.count(p), 1, `${p}: one upstream fetch across the workers`);
    }
  }
  const q = await modgate(['audit', 'query', '--config', config, '--format', 'json'], { env });
  const served = q.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; replica?: string })
    .filter((r) => r.type === 'decision');
  t.ok(
    served.some((r) => r.replica === 'node-a-w1') && served.some((r) => r.replica === 'node-a-w2'),
    'both workers served, each into its own chain',
  );
});

t.test('a TOFU entry made by one worker binds the other', async (t) => {
  const p = '/corp.example/lib/@v/v1.0.0.zip';
  const first = await get(`${node.url}${p}`);
  t.equal(
    first.status,
    200,
    `first sight of the private module${first.status === 200 ? '' : `: ${first.body}`}`,
  );
  // The cache loses the artifact (an operator purge): the workers must fetch it again.
  await rm(path.join(data, 'store', 'cache', 'corp.example'), { recursive: true, force: true });
  up.remove(priv.path, priv.version);
  up.add(privEvil);
  const again = await Promise.all(Array.from({ length: 4 }, () => get(`${node.url}${p}`)));
  for (const a of again) {
    t.not(a.status, 200, 'other bytes for the same version are refused');
    t.match(a.body, /SECURITY ERROR/);
  }
  t.ok(up.count(p) >= 2, 'the other bytes were fetched to compare');
  const zip = path.join(data, 'store', 'cache', 'corp.example', 'lib', '@v', 'v1.0.0.zip');
  await t.rejects(stat(zip), { code: 'ENOENT' }, 'the refused zip was not stored');
});

t.test(
  'kill -9 of a worker under load: restarted, retries succeed, its lease is freed',
  async (t) => {
    const p = '/example.com/slow/@v/v1.0.0.zip';
    up.misbehave(p, { kind: 'drip', bytesPerTick: 128 << 10, tickMs: 50 });
    // Two connections in turn go to the two workers: one holds the lease and fetches, the other waits.
    const slowA = getRetrying(`${node.url}${p}`);
    await waitFor('the upstream to start sending the slow zip', () => up.count(p) === 1);
    const slowB = getRetrying(`${node.url}${p}`);
    let stop = false;
    const load = Promise.all(
      Array.from({ length: 6 }, async (_, n) => {
        for (let i = 0; i < 2000 && !stop; i++) {
          const m = mods[(n + i) % mods.length]!;
          const r = await getRetrying(`${node.url}/${m.path}/@v/v1.0.0.${i % 2 ? 'zip' : 'mod'}`);
          if (r.status !== 200) throw new Error(`status ${r.status}: ${r.body}`);
          if (!r.id) throw new Error(`no x-request-id on the answer for ${m.path}`);
          completed.push(r.id);
        }
      }),
    );
    await waitFor('some answers under load', () => completed.length >= 20);
    const victim = node.workers.get(1)!;
    const readyBefore = node.readyLines;
    process.kill(victim, 'SIGKILL');
    await waitFor('the primary to restart worker 1', () => node.readyLines > readyBefore);
    t.not(node.workers.get(1), victim, 'slot 1 runs in a new process');
    t.notOk(alive(victim), 'the killed worker is gone');
    const before = completed.length;
    await waitFor('answers after the restart', () => completed.length >= before + 20);
    stop = true;
    await load;
    t.pass(`${completed.length} requests answered 200, retries included`);
    up.misbehave(p, null);
    const [a, b] = await Promise.all([slowA, slowB]);
    t.equal(a.status, 200, 'the slow zip is served to the first client (after a retry if needed)');
    t.equal(b.status, 200, 'and to the second: no dead holder kept its lease for the ttl');
    const st = await stat(
      path.join(data, 'store', 'cache', 'example.com', 'slow', '@v', 'v1.0.0.zip'),
    );
    t.equal(st.size, slow.zip.length, 'stored whole');
    const spool = await readdir(path.join(data, 'store', '.tmp', 'w1')).catch(() => []);
    t.same(spool, [], "the restarted worker cleared its own temp folder of the killed one's part");
  },
);

t.test('a fork seen by one worker stops both', async (t) => {
  sumdb.forge();
  const seen = await Promise.all(
    Array.from({ length: 4 }, () => get(`${node.url}/sumdb/${core.name}/latest`)),
  );
  for (const s of seen) {
    t.not(s.status, 200, 'the forked head is refused');
    t.match(s.body, /SECURITY ERROR|SUMDB_FORK/);
  }
  const evidence = path.join(data, 'sumdb', core.name, 'fork.json');
  t.ok((await stat(evidence)).size > 0, 'the evidence is recorded once, in the shared folder');
  up.add(await makeModule('example.com/late', 'v1.0.0'));
  const cold = await Promise.all(
    Array.from({ length: 4 }, () => get(`${node.url}/example.com/late/@v/v1.0.0.mod`)),
  );
  for (const c of cold) {
    t.equal(c.status, 502, 'every worker refuses a cold fetch');
    t.match(c.body, /SUMDB_FORK/);
  }
  const late = path.join(data, 'store', 'cache', 'example.com', 'late');
  t.same(await readdir(late).catch(() => []), [], 'nothing of it was stored');
});

t.test('SIGTERM drains the workers; audit verify passes over every chain', async (t) => {
  t.equal(await stopNode(node), 0, 'the primary exits 0 once its workers drained');
  for (const pid of node.workers.values()) t.notOk(alive(pid), `worker ${pid} is gone`);
  const ok = await modgate(['audit', 'verify', '--config', config], { env, timeoutMs: 120_000 });
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.match(ok.stdout, /replica node-a-w1: OK/);
  t.match(ok.stdout, /replica node-a-w2: OK/);
  t.match(ok.stdout, /audit trail intact: 2 chain\(s\)/);
  const q = await modgate(['audit', 'query', '--config', config, '--format', 'json'], { env });
  const recorded = new Set(
    q.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; requestId?: string })
      .filter((r) => r.type === 'decision')
      .map((r) => r.requestId),
  );
  t.same(
    completed.filter((id) => !recorded.has(id)),
    [],
    'every response completed under load (kill included) has its decision record',
  );
  // An edited record in one chain is caught, and named.
  const chain = path.join(data, 'audit', 'chains', 'node-a-w2');
  const seg = (await readdir(chain)).find((f) => f.endsWith('.jsonl'))!;
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(path.join(chain, seg), 'utf8');
  await writeFile(path.join(chain, seg), text.replace('"allow"', '"deny"'));
  const bad = await modgate(['audit', 'verify', '--config', config], { env, timeoutMs: 120_000 });
  t.equal(bad.code, 1, 'verify fails');
  t.match(bad.stdout, /BROKEN in replica node-a-w2/);
  // The node starts again on the same folders (the test restores the record first).
  await writeFile(path.join(chain, seg), text);
  node = await spawnWorkers(config, yaml, 2, env);
  const res = await get(`${node.url}/${hot.path}/@v/v1.0.0.mod`);
  t.equal(res.status, 502, 'still stopped by the recorded fork after a restart');
});
