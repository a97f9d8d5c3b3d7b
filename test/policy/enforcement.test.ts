import t from 'tap';
import type { Test } from 'tap';
import { cp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import YAML from 'yaml';
import { readRecords } from '../../src/audit/query.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { repoRoot } from '../helpers/testdata.js';
import type { Gateway } from '../../src/main.js';
import { testdir } from '../helpers/testdir.js';

async function setup(
  t: Test,
  data: Record<string, unknown>,
  raw: Record<string, unknown> = {},
): Promise<Gateway> {
  const up = await startFakeUpstream([
    await makeModule('example.com/lib', 'v1.0.0'),
    await makeModule('example.com/lib', 'v1.1.0'),
    await makeModule('example.com/lib', 'v1.2.0'),
    await makeModule('evil.example/x', 'v1.0.0'),
  ]);
  const dir = testdir(t);
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, YAML.stringify(data));
  const gw = await startTestGateway(path.join(dir, 'data'), {
    upstream: up.url,
    policy: { dataFile, ...((raw.policy as object) ?? {}) },
    ...raw,
    ...(raw.policy ? { policy: { dataFile, ...(raw.policy as object) } } : {}),
  });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  return gw;
}

/** A logger whose messages a test can wait for (policy reloads happen in the background). */
function logWatch() {
  const seen: string[] = [];
  const waiters: Array<{ re: RegExp; from: number; done: () => void }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      seen.push(String((JSON.parse(chunk.toString()) as { msg?: unknown }).msg));
      for (const w of waiters.splice(0))
        if (seen.slice(w.from).some((m) => w.re.test(m))) w.done();
        else waiters.push(w);
      cb();
    },
  });
  return {
    logger: pino({ level: 'info' }, stream),
    /** A promise for the next message matching re, logged after this call. */
    next(re: RegExp): Promise<void> {
      return new Promise((done) => waiters.push({ re, from: seen.length, done }));
    },
  };
}

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

const ban = {
  banned: [{ module: 'example.com/lib', versions: '>= v1.2.0', reason: 'CVE-2026-0001' }],
};

t.test('list is filtered and latest skips a banned newest version', async (t) => {
  const gw = await setup(t, ban);
  t.equal((await get(`${gw.url}/example.com/lib/@v/list`)).text, 'v1.0.0\nv1.1.0\n');
  t.equal(JSON.parse((await get(`${gw.url}/example.com/lib/@latest`)).text).Version, 'v1.1.0');
});

t.test('a banned zip gets 403 with its reasons; its .mod and .info are still served', async (t) => {
  const gw = await setup(t, ban);
  const zip = await get(`${gw.url}/example.com/lib/@v/v1.2.0.zip`);
  t.equal(zip.status, 403);
  t.match(zip.headers['content-type'], /^text\/plain; charset=utf-8/);
  t.match(
    zip.text,
    /^modgate policy denied this request:\nVERSION_BANNED: example\.com\/lib@v1\.2\.0 is banned \(>= v1\.2\.0\): CVE-2026-0001\n$/,
  );
  t.equal((await get(`${gw.url}/example.com/lib/@v/v1.2.0.mod`)).status, 200);
  t.equal((await get(`${gw.url}/example.com/lib/@v/v1.2.0.info`)).status, 200);
  t.equal((await get(`${gw.url}/example.com/lib/@v/v1.1.0.zip`)).status, 200);
});

t.test('denied sources are 403 everywhere; ancestors of allowed sources are 404', async (t) => {
  const gw = await setup(t, { sources: { allow: ['example.com/lib'], deny: ['evil.example'] } });
  for (const p of ['/@v/list', '/@latest', '/@v/v1.0.0.info', '/@v/v1.0.0.mod', '/@v/v1.0.0.zip']) {
    const r = await get(`${gw.url}/evil.example/x${p}`);
    t.equal(r.status, 403, p);
    t.match(r.text, /SOURCE_DENIED/, p);
  }
  t.equal(
    (await get(`${gw.url}/example.com/lib/sub/pkg/@v/list`)).status,
    404,
    'longer paths of an allowed module reach upstream (404)',
  );
  t.equal(
    (await get(`${gw.url}/example.com/@v/list`)).status,
    404,
    'an ancestor of an allowed module is 404, not 403',
  );
  t.equal((await get(`${gw.url}/other.example/m/@v/list`)).status, 403, 'not allowed');
});

t.test('dry-run lets a denial through with a warning header', async (t) => {
  const gw = await setup(t, ban, { policy: { mode: 'dry-run' } });
  const zip = await get(`${gw.url}/example.com/lib/@v/v1.2.0.zip`);
  t.equal(zip.status, 200);
  t.match(zip.headers['x-modgate-warning'], /VERSION_BANNED: dry-run, would deny/);
});

t.test('a waiver allows until it expires', async (t) => {
  const future = new Date(Date.now() + 86_400_000).toISOString();
  const past = new Date(Date.now() - 1000).toISOString();
  const live = await setup(t, {
    ...ban,
    waivers: [{ module: 'example.com/lib', versions: 'v1.2.0', reason: 'INC-1', expires: future }],
  });
  const ok = await get(`${live.url}/example.com/lib/@v/v1.2.0.zip`);
  t.equal(ok.status, 200);
  t.match(ok.headers['x-modgate-warning'], /WAIVED/);
  const expired = await setup(t, {
    ...ban,
    waivers: [{ module: 'example.com/lib', versions: 'v1.2.0', reason: 'INC-1', expires: past }],
  });
  t.equal((await get(`${expired.url}/example.com/lib/@v/v1.2.0.zip`)).status, 403);
});

t.test(
  'a corrupt policy denies everything with POLICY_ERROR; a bad reload keeps the good policy',
  async (t) => {
    const dir = testdir(t);
    const policies = path.join(dir, 'policies');
    await cp(path.join(repoRoot, 'policies'), policies, { recursive: true });
    const up = await startFakeUpstream([await makeModule('example.com/lib', 'v1.0.0')]);
    const log = logWatch();
    const gw = await startTestGateway(
      path.join(dir, 'data'),
      { upstream: up.url, policy: { path: policies } },
      { logger: log.logger },
    );
    t.teardown(async () => {
      await gw.close();
      await up.close();
    });
    t.equal((await get(`${gw.url}/example.com/lib/@v/list`)).status, 200);
    let logged = log.next(/^policy reload rejected/);
    await writeFile(path.join(policies, 'data.yaml'), 'banned: [not, a, mapping]\n');
    await logged;
    t.equal(
      (await get(`${gw.url}/example.com/lib/@v/v1.0.0.zip`)).status,
      200,
      'bad data rejected, old data kept',
    );
    logged = log.next(/^policy reloaded/);
    await writeFile(
      path.join(policies, 'data.yaml'),
      'banned: [{module: example.com/lib, versions: v1.0.0, reason: reloaded}]\n',
    );
    await logged;
    t.equal(
      (await get(`${gw.url}/example.com/lib/@v/v1.0.0.zip`)).status,
      403,
      'data hot-reloaded without restart',
    );

    // A wasm module that loads but whose entrypoint misbehaves cannot be built here without opa,
    // so corrupt the evaluation path: a policy whose decision is malformed fails closed.
    const bad = path.join(dir, 'bad');
    await cp(policies, bad, { recursive: true });
    await writeFile(path.join(bad, 'build', 'policy.wasm'), Buffer.from('not wasm'));
    const broken = await startTestGateway(path.join(dir, 'data2'), {
      upstream: up.url,
      policy: { path: bad },
    }).catch((e: unknown) => e);
    t.match(broken, { code: 'POLICY_LOAD_FAILED' }, 'a corrupt policy at start refuses to start');
  },
);

t.test(
  'an engine that returns a malformed or undefined decision denies everything with POLICY_ERROR',
  async (t) => {
    for (const kind of ['malformed', 'undefined']) {
      const dir = testdir(t);
      const up = await startFakeUpstream([await makeModule('example.com/lib', 'v1.0.0')]);
      const gw = await startTestGateway(path.join(dir, 'data'), {
        upstream: up.url,
        policy: { path: path.join(repoRoot, 'test', 'fixtures', `policies-${kind}`) },
      });
      for (const p of ['/@v/list', '/@v/v1.0.0.mod', '/@v/v1.0.0.zip']) {
        const r = await get(`${gw.url}/example.com/lib${p}`);
        t.equal(r.status, 403, `${kind} ${p}`);
        t.match(r.text, /POLICY_ERROR/, `${kind} ${p}`);
      }
      t.match(
        (await get(`${gw.url}/metrics`)).text,
        /modgate_security_events_total\{event="POLICY_ERROR"\} [1-9]/,
      );
      await gw.close();
      await up.close();
    }
  },
);

t.test('a new compiled policy is picked up without a restart', async (t) => {
  const dir = testdir(t);
  const policies = path.join(dir, 'policies');
  await cp(path.join(repoRoot, 'policies'), policies, { recursive: true });
  const up = await startFakeUpstream([await makeModule('example.com/lib', 'v1.0.0')]);
  const log = logWatch();
  const gw = await startTestGateway(
    path.join(dir, 'data'),
    { upstream: up.url, policy: { path: policies } },
    { logger: log.logger },
  );
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  t.equal((await get(`${gw.url}/example.com/lib/@v/v1.0.0.mod`)).status, 200);
  // Swap in another compiled policy (one whose decision is malformed): its logic applies at once.
  const logged = log.next(/^policy reloaded/);
  await cp(
    path.join(repoRoot, 'test', 'fixtures', 'policies-malformed', 'build', 'policy.wasm'),
    path.join(policies, 'build', 'policy.wasm'),
  );
  await logged;
  t.equal(
    (await get(`${gw.url}/example.com/lib/@v/v1.0.0.info`)).status,
    403,
    'the new logic decides (and fails closed)',
  );
});

t.test(
  'a policy over its time budget: 403 POLICY_ERROR, nothing fetched or cached, recorded; others served',
  async (t) => {
    const dir = testdir(t);
    const up = await startFakeUpstream([
      await makeModule('slow.example/m', 'v1.0.0'),
      await makeModule('fast.example/m', 'v1.0.0'),
    ]);
    const gw = await startTestGateway(path.join(dir, 'data'), {
      upstream: up.url,
      policy: { path: path.join(repoRoot, 'test', 'fixtures', 'policies-slow'), budgetMs: 1000 },
    });
    t.teardown(async () => {
      await gw.close();
      await up.close();
    });
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      const r = await get(`${gw.url}/slow.example/m/@v/v1.0.0.zip`);
      const ms = performance.now() - t0;
      t.equal(r.status, 403, `try ${i + 1}`);
      t.match(r.text, /POLICY_ERROR: .*over its 1000 ms budget/);
      t.ok(ms < 5000, `refused after ${ms.toFixed(0)} ms, long before the policy would finish`);
    }
    t.equal(up.count('slow.example/m/@v/v1.0.0.zip'), 0, 'nothing fetched for a denied module');
    t.equal((await get(`${gw.url}/fast.example/m/@v/v1.0.0.zip`)).status, 200, 'still serving');
    t.match(
      (await get(`${gw.url}/metrics`)).text,
      /modgate_security_events_total\{event="POLICY_ERROR"\} [2-9]/,
    );
    await gw.close();
    const records = [];
    for await (const r of readRecords(path.join(dir, 'data', 'audit'))) records.push(r);
    const security = records.filter(
      (r) => r.type === 'security' && r.event === 'POLICY_ERROR',
    ) as Array<{ details: { module?: string; deny?: Array<{ message: string }> } }>;
    const overruns = security.filter((r) => r.details.module === 'slow.example/m');
    t.ok(overruns.length >= 2, 'a security event per overrun');
    t.match(overruns[0]?.details.deny, [{ message: /budget/ }]);
    const denials = records.filter(
      (r) => r.type === 'decision' && r.module === 'slow.example/m' && r.decision === 'deny',
    );
    t.ok(denials.length >= 2, 'a denial record per request');
  },
);
