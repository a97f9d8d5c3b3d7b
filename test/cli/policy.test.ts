import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { modgate } from '../helpers/cli.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';

const env = { GOPROXY: 'off', MODGATE_CONFIG: '' };

t.test('policy eval prints the decision and input; exit code follows the decision', async (t) => {
  const dir = t.testdir();
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
    const dir = t.testdir();
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
    const dir = t.testdir();
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
