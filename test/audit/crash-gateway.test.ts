import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Agent, request } from 'undici';
import { modgate } from '../helpers/cli.js';
import { repoRoot } from '../helpers/testdata.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { testdir } from '../helpers/testdir.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Requests after a kill use a fresh pool, never a socket of the dead process. */
const fresh = new Agent({ keepAliveTimeout: 10 });

async function startChild(config: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'bin', 'modgate.js'),
      'serve',
      '--workers',
      '1',
      '--config',
      config,
      '--listen',
      `127.0.0.1:${port}`,
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, GOPROXY: 'off', MODGATE_CONFIG: '' },
    },
  );
  // No event says "listening" at log level error, so poll /healthz; the
  // bound is a deadline, and the child's exit ends the wait at once.
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 60_000;
  while (!exited && Date.now() < deadline) {
    const up = await request(`http://127.0.0.1:${port}/healthz`, {
      dispatcher: fresh,
      headersTimeout: 2000,
    }).then(
      (r) => (r.body.dump(), true),
      () => false,
    );
    if (up) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(exited ? 'gateway exited at start' : 'gateway did not start within 60 s');
}

/**
 * kill -9 during load: after a restart the chain verifies, and every response
 * the client received complete has its decision record. Zips are streamed
 * from disk (memoryMaxItemBytes: 0), so their bytes flow while their record
 * commits and only the last chunk waits for it.
 */
t.test('SIGKILL under load loses no acknowledged decision and the chain verifies', async (t) => {
  const mods = [];
  for (let i = 0; i < 20; i++) mods.push(await makeModule(`example.com/m${i}`, 'v1.0.0'));
  const up = await startFakeUpstream(mods);
  t.teardown(async () => {
    await up.close();
    await fresh.close();
  });
  const dir = testdir(t);
  const config = path.join(dir, 'modgate.yaml');
  await writeFile(
    config,
    `dataDir: ${path.join(dir, 'data')}\nupstream: ${up.url}\nsumdb: 'off'\nallowHttpUpstream: true\npinning: optional\ntls: {insecureHttp: true}\naudit: {checkpointSeconds: 1}\nlog: {level: error}\ncache: {memoryMaxItemBytes: 0}\n`,
  );
  const port = await freePort();
  let child = await startChild(config, port);
  const completed: string[] = [];
  let killed = false;
  // Kill once enough answers are acknowledged (an event), not after a fixed
  // time that a busy machine may spend starting up.
  const KILL_AFTER = 40;
  let enough!: () => void;
  const reached = new Promise<void>((r) => (enough = r));
  const client = async (n: number): Promise<void> => {
    for (let i = 0; i < 5000 && !killed; i++) {
      const id = `req-${n}-${i}`;
      try {
        const res = await request(
          `http://127.0.0.1:${port}/example.com/m${(n + i) % 20}/@v/v1.0.0.${i % 2 ? 'zip' : 'mod'}`,
          { headers: { 'x-request-id': id }, headersTimeout: 5000, bodyTimeout: 5000 },
        );
        await res.body.arrayBuffer();
        // The record carries modgate's own request id, which the answer echoes.
        const own = res.headers['x-request-id'];
        if (res.statusCode === 200 && typeof own === 'string') completed.push(own);
        if (completed.length >= KILL_AFTER) enough();
      } catch {
        // the gateway died mid-request: not acknowledged
      }
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, (_, n) => client(n)));
  await Promise.race([reached, load]);
  child.kill('SIGKILL');
  killed = true;
  await load;
  t.ok(completed.length >= KILL_AFTER, `${completed.length} responses completed before the kill`);

  child = await startChild(config, port);
  const after = await request(`http://127.0.0.1:${port}/example.com/m1/@v/v1.0.0.mod`, {
    dispatcher: fresh,
    headersTimeout: 5000,
  });
  t.equal(after.statusCode, 200, 'serves again after the crash');
  await after.body.dump();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));

  const verify = await modgate(['audit', 'verify', '--config', config]);
  t.equal(verify.code, 0, verify.stdout + verify.stderr);
  const q = await modgate(['audit', 'query', '--config', config, '--format', 'json']);
  const recorded = new Set(
    q.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; requestId?: string })
      .filter((r) => r.type === 'decision')
      .map((r) => r.requestId),
  );
  const missing = completed.filter((id) => !recorded.has(id));
  t.same(missing, [], 'every completed response has its decision record');
});
