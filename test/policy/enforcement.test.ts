import t from 'tap';
import type { Test } from 'tap';
import { cp, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import YAML from 'yaml';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { logEvents } from '../helpers/log-events.js';
import { repoRoot } from '../helpers/testdata.js';
import type { Gateway } from '../../src/main.js';

/** The watcher must see the whole new file, never a half-written one. */
async function writeAtomic(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

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
  const dir = t.testdir();
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
    const dir = t.testdir();
    const policies = path.join(dir, 'policies');
    await cp(path.join(repoRoot, 'policies'), policies, { recursive: true });
    const up = await startFakeUpstream([await makeModule('example.com/lib', 'v1.0.0')]);
    const events = logEvents();
    const gw = await startTestGateway(
      path.join(dir, 'data'),
      { upstream: up.url, policy: { path: policies } },
      { logger: events.logger },
    );
    t.teardown(async () => {
      await gw.close();
      await up.close();
    });
    t.equal((await get(`${gw.url}/example.com/lib/@v/list`)).status, 200);
    const rejected = events.next('policy reload rejected; keeping the previous policy and data');
    await writeAtomic(path.join(policies, 'data.yaml'), 'banned: [not, a, mapping]\n');
    await rejected;
    t.equal(
      (await get(`${gw.url}/example.com/lib/@v/v1.0.0.mod`)).status,
      200,
      'bad data rejected, old data kept',
    );
    const reloaded = events.next('policy reloaded');
    await writeAtomic(
      path.join(policies, 'data.yaml'),
      'banned: [{module: example.com/lib, versions: v1.0.0, reason: reloaded}]\n',
    );
    await reloaded;
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
      const dir = t.testdir();
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
  const dir = t.testdir();
  const policies = path.join(dir, 'policies');
  await cp(path.join(repoRoot, 'policies'), policies, { recursive: true });
  const up = await startFakeUpstream([await makeModule('example.com/lib', 'v1.0.0')]);
  const events = logEvents();
  const gw = await startTestGateway(
    path.join(dir, 'data'),
    { upstream: up.url, policy: { path: policies } },
    { logger: events.logger },
  );
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  t.equal((await get(`${gw.url}/example.com/lib/@v/v1.0.0.mod`)).status, 200);
  // Swap in another compiled policy (one whose decision is malformed): its logic applies at once.
  const wasm = path.join(policies, 'build', 'policy.wasm');
  const reloaded = events.next('policy reloaded');
  await cp(
    path.join(repoRoot, 'test', 'fixtures', 'policies-malformed', 'build', 'policy.wasm'),
    `${wasm}.tmp`,
  );
  await rename(`${wasm}.tmp`, wasm);
  await reloaded;
  const status = (await get(`${gw.url}/example.com/lib/@v/v1.0.0.info`)).status;
  t.equal(status, 403, 'the new logic decides (and fails closed)');
});
