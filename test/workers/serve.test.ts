import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { modgate } from '../helpers/cli.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { alive, spawnWorkers, waitFor } from '../e2e/workers-rig.js';
import { testdir } from '../helpers/testdir.js';
import { stopChild } from '../helpers/child.js';

const env = {
  GOPROXY: 'off',
  GOSUMDB: 'off',
  GOPRIVATE: '',
  GONOSUMDB: '',
  GONOPROXY: '',
  MODGATE_CONFIG: '',
};

t.test('--help describes --workers', async (t) => {
  const help = await modgate(['serve', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--workers <n>/);
  t.match(help.stdout, /0 = one\s+per core/);
});

t.test('a bad config is reported once, before any worker starts', async (t) => {
  const cfg = path.join(testdir(t), 'bad.yaml');
  await writeFile(cfg, 'listen: [1]\npolicy: {mode: sometimes}\n');
  const bad = await modgate(['serve', '--workers', '2', '--config', cfg], { env });
  t.equal(bad.code, 1);
  t.match(
    bad.stderr,
    /^error: CONFIG_INVALID: invalid configuration: listen: must be string; policy\.mode: must be equal to one of the allowed values: enforce, dry-run\n$/,
  );
  t.notMatch(bad.stdout, /worker/, 'no worker was started');
  const word = await modgate(['serve', '--workers', 'many'], { env });
  t.equal(word.code, 1);
  t.match(word.stderr, /^error: CONFIG_INVALID: --workers must be a whole number, got "many"\n$/);
});

t.test("an address in use: the workers' error, once, and exit 1", async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const busy = await modgate(
    [
      'serve',
      '--workers',
      '2',
      '--listen',
      `127.0.0.1:${port}`,
      '--insecure-http',
      '--data',
      testdir(t),
    ],
    { env, timeoutMs: 180_000 },
  );
  t.equal(busy.code, 1);
  t.match(busy.stderr, /^error: LISTEN_FAILED: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE\n$/);
});

t.test('a slot that keeps failing to start stops the primary with WORKERS_FAILED', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  t.teardown(() => up.close());
  const dir = testdir(t);
  const config = path.join(dir, 'modgate.yaml');
  const yaml = [
    `dataDir: ${path.join(dir, 'data')}`,
    `upstream: ${up.url}`,
    `sumdb: 'off'`,
    `allowHttpUpstream: true`,
    `pinning: optional`,
    `tls: {insecureHttp: true}`,
    `log: {level: info}`,
    `cluster: {replicaId: n}`,
    '',
  ].join('\n');
  const node = await spawnWorkers(config, yaml, 2, env);
  t.teardown(async () => {
    await stopChild(node.primary, 'SIGKILL');
    for (const pid of node.workers.values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await waitFor('the workers to exit', () => [...node.workers.values()].every((p) => !alive(p)));
  });
  // Worker 2's chain now claims a checkpoint beyond its end: it refuses to extend it (AUDIT_CORRUPT).
  const cps = path.join(dir, 'data', 'audit', 'chains', 'n-w2', 'checkpoints');
  await mkdir(cps, { recursive: true });
  await writeFile(path.join(cps, '999999.note'), 'not a note\n');
  const exit = new Promise<number | null>((r) => node.primary.once('exit', r));
  process.kill(node.workers.get(2)!, 'SIGKILL');
  t.equal(await exit, 1, 'the primary gives up and exits 1');
  t.match(
    node.stderr,
    /error: WORKERS_FAILED: worker 2 failed to start 5 times in a row; last: AUDIT_CORRUPT/,
  );
  t.equal(node.stderr.match(/error:/g)?.length, 1, 'reported once');
  await waitFor('worker 1 to be drained', () => !alive(node.workers.get(1)!));
});
