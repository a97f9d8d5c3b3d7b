import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { modgate } from '../helpers/cli.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { goSumLine } from '../helpers/gosum.js';
import { testdir } from '../helpers/testdir.js';

const env = { GOPROXY: 'off', MODGATE_CONFIG: '', GOSUMDB: 'off' };

t.test('policy eval prints the decision and input; exit code follows the decision', async (t) => {
  const dir = testdir(t);
  const data = path.join(dir, 'data.yaml');
  await writeFile(
    data,
    YAML.stringify({
      banned: [{ module: 'example.com/lib', versions: '< v1.2.0', reason: 'old' }],
      pseudoVersions: 'deny',
    }),
  );
  const denied = await modgate(
    [
      'policy',
      'eval',
      '--module',
      'example.com/lib',
      '--version',
      'v1.1.0',
      '--data',
      data,
      '--offline',
    ],
    { env },
  );
  t.equal(denied.code, 1);
  const out = JSON.parse(denied.stdout);
  t.match(out.decision, { allow: false, deny: [{ code: 'VERSION_BANNED' }] });
  t.match(out.input, {
    request: { kind: 'zip' },
    module: { path: 'example.com/lib', version: 'v1.1.0', major: 'v1', pseudo: false },
  });
  const ok = await modgate(
    [
      'policy',
      'eval',
      '--module',
      'example.com/lib',
      '--version',
      'v1.2.0',
      '--data',
      data,
      '--offline',
    ],
    { env },
  );
  t.equal(ok.code, 0, ok.stderr);
  const mod = await modgate(
    [
      'policy',
      'eval',
      '--module',
      'example.com/lib',
      '--version',
      'v1.1.0',
      '--kind',
      'mod',
      '--data',
      data,
      '--offline',
    ],
    { env },
  );
  t.equal(mod.code, 0, "a banned version's go.mod is allowed");
  const pseudo = await modgate(
    [
      'policy',
      'eval',
      '--module',
      'example.com/lib',
      '--version',
      'v0.0.0-20240101000000-abcdefabcdef',
      '--data',
      data,
      '--offline',
    ],
    { env },
  );
  const codes = (JSON.parse(pseudo.stdout).decision.deny as Array<{ code: string }>).map(
    (d) => d.code,
  );
  t.same(codes.sort(), ['PSEUDO_VERSION_DENIED', 'VERSION_BANNED']);
});

t.test(
  'policy check go.sum fails on a banned requirement with a readable report and JSON',
  async (t) => {
    const dir = testdir(t);
    const data = path.join(dir, 'data.yaml');
    await writeFile(
      data,
      YAML.stringify({
        banned: [{ module: 'example.com/bad', versions: 'v1.0.0', reason: 'CVE-2026-9' }],
      }),
    );
    const sum = path.join(dir, 'go.sum');
    await writeFile(
      sum,
      [
        'example.com/bad v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        'example.com/bad v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        'example.com/good v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        'example.com/good v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        'example.com/bad v0.9.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        '',
      ].join('\n'),
    );
    const r = await modgate(['policy', 'check', sum, '--data', data, '--offline'], { env });
    t.equal(r.code, 1);
    t.match(r.stdout, /3 requirements, 1 denied/);
    t.match(r.stdout, /DENY  example\.com\/bad v1\.0\.0\n\s+VERSION_BANNED: .*CVE-2026-9/);
    t.match(r.stdout, /ok    example\.com\/bad v0\.9\.0 \(go\.mod only\)/);
    const j = JSON.parse(
      (
        await modgate(['policy', 'check', sum, '--data', data, '--offline', '--format', 'json'], {
          env,
        })
      ).stdout,
    );
    t.equal(j.denied, 1);
    t.equal(j.checked, 3);
  },
);

t.test(
  'with --offline, a rule that needs a missing fact fails closed; through a gateway the fact is fetched',
  async (t) => {
    const dir = testdir(t);
    const data = path.join(dir, 'data.yaml');
    await writeFile(data, YAML.stringify({ minReleaseAgeHours: 24 }));
    const off = await modgate(
      [
        'policy',
        'eval',
        '--module',
        'example.com/lib',
        '--version',
        'v1.0.0',
        '--data',
        data,
        '--offline',
      ],
      { env },
    );
    t.equal(off.code, 1);
    t.match(JSON.parse(off.stdout).decision.deny, [{ code: 'FACT_UNAVAILABLE' }]);
    const up = await startFakeUpstream([
      await makeModule('example.com/lib', 'v1.0.0', {}, '2020-01-01T00:00:00Z'),
      await makeModule('example.com/new', 'v1.0.0', {}, new Date().toISOString()),
    ]);
    const gw = await startTestGateway(path.join(dir, 'gw'), { upstream: up.url });
    t.teardown(async () => {
      await gw.close();
      await up.close();
    });
    const old = await modgate(
      [
        'policy',
        'eval',
        '--module',
        'example.com/lib',
        '--version',
        'v1.0.0',
        '--data',
        data,
        '--gateway',
        gw.url,
      ],
      { env },
    );
    t.equal(old.code, 0, old.stdout);
    const young = await modgate(
      [
        'policy',
        'eval',
        '--module',
        'example.com/new',
        '--version',
        'v1.0.0',
        '--data',
        data,
        '--gateway',
        gw.url,
      ],
      { env },
    );
    t.equal(young.code, 1);
    t.match(JSON.parse(young.stdout).decision.deny, [{ code: 'MIN_RELEASE_AGE' }]);
  },
);

t.test(
  'policy check takes the upstream from go env as serve does, and marks its requests as pre-flight',
  async (t) => {
    const dir = testdir(t);
    const data = path.join(dir, 'data.yaml');
    await writeFile(data, YAML.stringify({ minReleaseAgeHours: 24 }));
    const mods = [
      await makeModule('example.com/old', 'v1.0.0', {}, '2020-01-01T00:00:00Z'),
      await makeModule('example.com/young', 'v1.0.0', {}, new Date().toISOString()),
    ];
    const up = await startFakeUpstream(mods);
    t.teardown(() => up.close());
    const goenv = path.join(dir, 'go.env');
    await writeFile(goenv, `GOPROXY=${up.url}\n`);
    const sum = path.join(dir, 'go.sum');
    // Real hashes: the zips are fetched for their licenses and checked against go.sum.
    await writeFile(sum, `${(await Promise.all(mods.map((m) => goSumLine(dir, m)))).join('\n')}\n`);
    const r = await modgate(['policy', 'check', sum, '--data', data], {
      cwd: dir,
      env: {
        GOPROXY: undefined,
        GOENV: goenv,
        GOFLAGS: '',
        GOSUMDB: 'off',
        MODGATE_CONFIG: '',
        MODGATE_ALLOW_HTTP_UPSTREAM: 'true',
        MODGATE_PINNING: 'optional',
      },
    });
    t.equal(r.code, 1, r.stdout + r.stderr);
    t.match(r.stdout, /2 requirements, 1 denied/);
    t.match(
      r.stdout,
      /ok    example\.com\/old v1\.0\.0/,
      'the publish time came from go env GOPROXY',
    );
    t.match(r.stdout, /DENY  example\.com\/young v1\.0\.0\n\s+MIN_RELEASE_AGE/);
    t.notMatch(r.stdout, /FACT_UNAVAILABLE/);
    t.ok(up.count('.info') >= 2, 'the upstream was asked');
    t.same(
      [...up.purposes.keys()],
      ['preflight'],
      'every request says x-modgate-purpose: preflight',
    );
  },
);

t.test('missing facts are explained once, with the fix, not per requirement', async (t) => {
  const dir = testdir(t);
  const data = path.join(dir, 'data.yaml');
  await writeFile(data, YAML.stringify({ minReleaseAgeHours: 24, denyRetracted: true }));
  const sum = path.join(dir, 'go.sum');
  const lines: string[] = [];
  for (let i = 0; i < 30; i++)
    lines.push(`example.com/m${i} v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`);
  await writeFile(sum, `${lines.join('\n')}\n`);
  const off = await modgate(['policy', 'check', sum, '--data', data, '--offline'], { env });
  t.equal(off.code, 1, 'still fails closed');
  t.match(off.stdout, /30 requirements, 30 denied/);
  t.equal(off.stdout.match(/facts unavailable for/g)?.length, 1, 'said once');
  t.match(
    off.stdout,
    /note: facts unavailable for 30 requirement\(s\): offline \(--offline\); fix: .*--gateway/,
  );
  t.notMatch(off.stdout, /^\s+FACT_UNAVAILABLE/m, 'no per-requirement message lines');
  t.match(
    off.stdout,
    /DENY  example\.com\/m0 v1\.0\.0  \[FACT_UNAVAILABLE: publish time \(cool-down\) unknown, retraction unknown\]\n/,
  );
  // An unreachable upstream: the failure is named once.
  const closed = await startFakeUpstream([]);
  const url = closed.url;
  await closed.close();
  const down = await modgate(['policy', 'check', sum, '--data', data, '--format', 'json'], {
    env: { ...env, GOPROXY: url, MODGATE_ALLOW_HTTP_UPSTREAM: 'true', MODGATE_PINNING: 'optional' },
  });
  t.equal(down.code, 1);
  const j = JSON.parse(down.stdout);
  t.equal(j.factsUnavailable.requirements, 30);
  t.match(
    j.factsUnavailable.note,
    new RegExp(`lookups failed, first: ${url.replace(/\./g, '\\.')} unreachable`),
  );
});

t.test('policy check through --gateway: concurrent, counted, marked', async (t) => {
  const dir = testdir(t);
  const data = path.join(dir, 'data.yaml');
  await writeFile(data, YAML.stringify({ minReleaseAgeHours: 24 }));
  const mods = [];
  for (let i = 0; i < 12; i++)
    mods.push(await makeModule(`example.com/p${i}`, 'v1.0.0', {}, '2020-01-01T00:00:00Z'));
  const up = await startFakeUpstream(mods);
  const gw = await startTestGateway(path.join(dir, 'gw'), { upstream: up.url });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  const sum = path.join(dir, 'go.sum');
  await writeFile(sum, `${(await Promise.all(mods.map((m) => goSumLine(dir, m)))).join('\n')}\n`);
  const r = await modgate(['policy', 'check', sum, '--data', data, '--gateway', gw.url], { env });
  t.equal(r.code, 0, r.stdout);
  t.match(r.stdout, /12 requirements, 0 denied/);
  t.equal(up.count('.info'), 12, 'one .info per requirement reached the upstream');
  const bad = await modgate(['policy', 'check', sum, '--jobs', '0', '--offline'], { env });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^error: USAGE: --jobs must be/);
});
