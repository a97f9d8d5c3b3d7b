/**
 * `modgate policy check go.sum` reads each requirement's license from its
 * zip, verified before it is scanned (against go.sum, or by the gateway),
 * applies the license rules, shows the licenses in text, json and SARIF,
 * exits 1 on a license denial, and reports deprecations.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import YAML from 'yaml';
import { makeModule, startFakeUpstream, type FakeModule } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { modgate } from '../helpers/cli.js';
import { goSumLine } from '../helpers/gosum.js';
import { repoRoot, td } from '../helpers/testdata.js';
import { testdir } from '../helpers/testdir.js';

const env = { GOPROXY: 'off', MODGATE_CONFIG: '', GOSUMDB: 'off', GOFLAGS: '' };

async function modules(): Promise<FakeModule[]> {
  const bsd = await readFile(td('LICENSE-go'), 'utf8');
  const mit = await readFile(path.join(repoRoot, 'node_modules', 'fastify', 'LICENSE'), 'utf8');
  return [
    await makeModule('example.com/bsd', 'v1.0.0', { LICENSE: bsd }, '2020-01-01T00:00:00Z'),
    await makeModule('example.com/mit', 'v1.0.0', { 'LICENSE.md': mit }, '2020-01-01T00:00:00Z'),
    await makeModule('example.com/none', 'v1.0.0', {}, '2020-01-01T00:00:00Z'),
    await makeModule(
      'example.com/old',
      'v1.0.0',
      {
        LICENSE: bsd,
        'go.mod': '// Deprecated: use example.com/new instead.\nmodule example.com/old\n',
      },
      '2020-01-01T00:00:00Z',
    ),
  ];
}

async function fixture(t: Test, data: Record<string, unknown>) {
  const dir = testdir(t);
  const mods = await modules();
  const up = await startFakeUpstream(mods);
  t.teardown(() => up.close());
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, YAML.stringify(data));
  const sum = path.join(dir, 'go.sum');
  const lines = await Promise.all(mods.map((m) => goSumLine(dir, m)));
  await writeFile(sum, `${lines.join('\n')}\n`);
  return { dir, up, dataFile, sum, lines };
}

const direct = (url: string) => ({
  ...env,
  GOPROXY: url,
  MODGATE_ALLOW_HTTP_UPSTREAM: 'true',
  MODGATE_PINNING: 'optional',
});

t.test(
  'through --gateway: licenses in text, json and sarif; a denied license exits 1',
  async (t) => {
    const f = await fixture(t, { licenses: { deny: ['MIT'], unknown: 'warn' } });
    const gw = await startTestGateway(path.join(f.dir, 'gw'), { upstream: f.up.url });
    t.teardown(() => gw.close());
    const base = ['policy', 'check', f.sum, '--data', f.dataFile, '--gateway', gw.url];

    const text = await modgate(base, { env, timeoutMs: 120_000 });
    t.equal(text.code, 1, text.stdout + text.stderr);
    t.match(text.stdout, /4 requirements, 1 denied/);
    t.match(text.stdout, /ok    example\.com\/bsd v1\.0\.0\n\s+license: BSD-3-Clause/);
    t.match(text.stdout, /DENY  example\.com\/mit v1\.0\.0\n\s+LICENSE_DENIED: .*licensed MIT/);
    t.match(text.stdout, /WARN  example\.com\/none v1\.0\.0\n\s+warning LICENSE_UNKNOWN/);
    t.match(text.stdout, /license: unknown \(no license file at the module root\)/);
    t.match(
      text.stdout,
      /WARN  example\.com\/old v1\.0\.0\n\s+warning DEPRECATED: example\.com\/old is deprecated: use example\.com\/new instead\./,
      'the latest go.mod says Deprecated: the default rule warns',
    );

    const json = await modgate([...base, '--format', 'json'], { env, timeoutMs: 120_000 });
    t.equal(json.code, 1);
    const j = JSON.parse(json.stdout) as {
      results: Array<{ module: string; licenses?: { expression: string }; deprecated?: string }>;
    };
    const by = new Map(j.results.map((r) => [r.module, r]));
    t.equal(by.get('example.com/bsd')?.licenses?.expression, 'BSD-3-Clause');
    t.equal(by.get('example.com/mit')?.licenses?.expression, 'MIT');
    t.equal(by.get('example.com/old')?.deprecated, 'use example.com/new instead.');

    const s = await modgate([...base, '--format', 'sarif'], { env, timeoutMs: 120_000 });
    t.equal(s.code, 1);
    const run = (
      JSON.parse(s.stdout) as {
        runs: Array<{
          results: Array<{ ruleId: string; level: string; properties: { license?: string } }>;
          properties: { licenses: Array<{ module: string; license: string }> };
        }>;
      }
    ).runs[0]!;
    t.match(
      run.results.find((r) => r.ruleId === 'LICENSE_DENIED'),
      { level: 'error', properties: { license: 'MIT' } },
    );
    t.match(
      run.results.find((r) => r.ruleId === 'DEPRECATED'),
      { level: 'warning' },
    );
    t.same(run.properties.licenses.map((l) => `${l.module} ${l.license}`).sort(), [
      'example.com/bsd BSD-3-Clause',
      'example.com/mit MIT',
      'example.com/none unknown',
      'example.com/old BSD-3-Clause',
    ]);
    t.ok(f.up.count('.zip') >= 4, 'the gateway fetched the zips');
  },
);

t.test('without a gateway the zip is verified against go.sum before it is scanned', async (t) => {
  const f = await fixture(t, { licenses: { allow: ['BSD-3-Clause'] } });
  const bad = path.join(f.dir, 'bad.sum');
  // The go.sum names other bytes for example.com/bsd: modgate must not scan what it fetched.
  await writeFile(
    bad,
    `${f.lines[0]!.replace(/h1:\S+/, 'h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')}\n`,
  );
  const r = await modgate(['policy', 'check', bad, '--data', f.dataFile], {
    cwd: f.dir,
    env: direct(f.up.url),
    timeoutMs: 120_000,
  });
  t.equal(r.code, 1, r.stdout + r.stderr);
  t.match(r.stdout, /DENY  example\.com\/bsd v1\.0\.0/);
  t.match(r.stdout, /CHECKSUM_MISMATCH: SECURITY ERROR: example\.com\/bsd@v1\.0\.0: the zip from/);
  t.match(r.stdout, /go\.sum has h1:AAAA/);
  t.match(r.stdout, /license: not read: the zip did not match its hash/);
  t.notMatch(r.stdout, /license: BSD-3-Clause/, 'unverified bytes were not scanned');

  const good = await modgate(['policy', 'check', f.sum, '--data', f.dataFile, '--format', 'json'], {
    cwd: f.dir,
    env: direct(f.up.url),
    timeoutMs: 120_000,
  });
  t.equal(good.code, 1, 'MIT and the unlicensed module are not allowed');
  const j = JSON.parse(good.stdout) as {
    results: Array<{
      module: string;
      allow: boolean;
      deny: Array<{ code: string }>;
      licenses?: { expression: string; unknown: boolean };
    }>;
  };
  const by = new Map(j.results.map((x) => [x.module, x]));
  t.match(by.get('example.com/bsd'), { allow: true, licenses: { expression: 'BSD-3-Clause' } });
  t.match(by.get('example.com/mit'), {
    allow: false,
    deny: [{ code: 'LICENSE_NOT_ALLOWED' }],
    licenses: { expression: 'MIT' },
  });
  t.match(by.get('example.com/none'), { licenses: { unknown: true } });
  t.ok(f.up.count('.zip') >= 5, 'the zips came from the upstream');
});

t.test('a zip with nothing to verify it against is not scanned; rules fail closed', async (t) => {
  const f = await fixture(t, { licenses: { deny: ['GPL-3.0-only'] } });
  const gomod = path.join(f.dir, 'go.mod');
  await writeFile(gomod, 'module example.com/app\n\nrequire example.com/bsd v1.0.0\n');
  const r = await modgate(['policy', 'check', gomod, '--data', f.dataFile], {
    cwd: f.dir,
    env: direct(f.up.url),
    timeoutMs: 120_000,
  });
  t.equal(r.code, 1, r.stdout + r.stderr);
  t.match(r.stdout, /DENY  example\.com\/bsd v1\.0\.0  \[FACT_UNAVAILABLE: license unknown\]/);
  t.match(r.stdout, /license: not read: no hash to verify the zip against/);

  const off = await modgate(
    ['policy', 'check', f.sum, '--data', f.dataFile, '--no-licenses', '--format', 'json'],
    { cwd: f.dir, env: direct(f.up.url), timeoutMs: 120_000 },
  );
  t.equal(off.code, 1, 'license rules without licenses fail closed');
  t.match(JSON.parse(off.stdout), {
    results: [{ deny: [{ code: 'FACT_UNAVAILABLE' }], licenseNote: '--no-licenses' }],
  });
  t.equal(f.up.count('.zip'), 1, 'only the go.mod run downloaded a zip (and did not scan it)');
});
