import t from 'tap';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runGo } from '../helpers/gocmd.js';
import { modgate } from '../helpers/cli.js';
import { makeModule } from '../helpers/fake-upstream.js';
import { GOOS_GOARCH, startWorld, type World } from './world.js';
import { testdir } from '../helpers/testdir.js';

/**
 * The whole gateway with the real go command: HTTPS to modgate with a .netrc
 * token, pinned TLS to the fake upstream and its checksum database, policy,
 * private routing and the audit trail. Scenarios run in order on one world.
 */
const deps: Array<[string, string]> = [
  ...Array.from({ length: 9 }, (_, i): [string, string] => [`example.com/dep${i + 1}`, 'v1.0.0']),
  ['github.com/BigCorp/Widget', 'v1.4.0'],
  ['example.com/legacy', 'v2.1.0+incompatible'],
  ['example.com/lib', 'v1.1.0'],
];

async function project(
  dir: string,
  requires: ReadonlyArray<readonly [string, string]>,
  extra = '',
): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, 'go.mod'),
    `module example.com/app\n\ngo 1.21\n${extra}\nrequire (\n${requires.map(([m, v]) => `\t${m} ${v}`).join('\n')}\n)\n`,
  );
  const imports = requires.map(([m], i) => `\tp${i} "${m}"`).join('\n');
  const calls = requires.map((_, i) => `\tprintln(p${i}.Name())`).join('\n');
  await writeFile(
    path.join(dir, 'main.go'),
    `package main\n\nimport (\n${imports}\n)\n\nfunc main() {\n${calls}\n}\n`,
  );
  return dir;
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else out.push(path.join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}

t.test('nine scenarios with the real go command', async (t) => {
  const dir = testdir(t);
  const w: World = await startWorld(dir);
  t.teardown(() => w.close());

  await t.test(
    '1. a dozen requirements (upper-case path, +incompatible): go mod download all, go build',
    async (t) => {
      const env = await w.env('s1');
      const app = await project(path.join(dir, 's1', 'app'), deps);
      const dl = await runGo(['mod', 'download', 'all'], { cwd: app, env });
      t.equal(dl.code, 0, dl.stderr);
      const tidy = await runGo(['mod', 'tidy'], { cwd: app, env });
      t.equal(tidy.code, 0, tidy.stderr);
      const build = await runGo(['build', '-o', path.join(app, 'app'), '.'], { cwd: app, env });
      t.equal(build.code, 0, build.stderr);
      t.match(
        await readFile(path.join(app, 'go.sum'), 'utf8'),
        /^github\.com\/BigCorp\/Widget v1\.4\.0 h1:/m,
      );
    },
  );

  await t.test(
    '2. go get @latest selects the newest allowed version; go list -versions omits banned ones',
    async (t) => {
      const env = await w.env('s2');
      const app = await project(path.join(dir, 's2', 'app'), []);
      const get = await runGo(['get', 'example.com/lib@latest'], { cwd: app, env });
      t.equal(get.code, 0, get.stderr);
      t.match(await readFile(path.join(app, 'go.mod'), 'utf8'), /example\.com\/lib v1\.2\.0/);
      const list = await runGo(['list', '-m', '-versions', 'example.com/lib'], { cwd: app, env });
      t.equal(list.stdout.trim(), 'example.com/lib v1.0.0 v1.1.0 v1.2.0');
    },
  );

  await t.test(
    "3. a banned version: go get fails with modgate's reason; the denial is audited with the identity",
    async (t) => {
      const env = await w.env('s3');
      const app = await project(path.join(dir, 's3', 'app'), []);
      const get = await runGo(['get', 'example.com/lib@v1.3.0'], { cwd: app, env });
      t.not(get.code, 0);
      t.match(get.stderr, /403 Forbidden/);
      t.match(
        get.stderr,
        /VERSION_BANNED: example\.com\/lib@v1\.3\.0 is banned \(>= v1\.3\.0\): CVE-2026-4242/,
      );
    },
  );

  await t.test(
    '4. a tampered upstream zip: SECURITY ERROR, nothing cached, a security event',
    async (t) => {
      w.up.misbehave('/example.com/victim/@v/v1.0.0.zip', {
        kind: 'replace',
        body: (
          await makeModule('example.com/victim', 'v1.0.0', { 'x.go': 'package victim // evil\n' })
        ).zip,
      });
      const env = await w.env('s4');
      const dl = await runGo(['mod', 'download', '-json', 'example.com/victim@v1.0.0'], {
        cwd: dir,
        env,
      });
      t.not(dl.code, 0);
      t.match(dl.stdout, /SECURITY ERROR: checksum mismatch for example\.com\/victim@v1\.0\.0/);
      t.equal(
        (await files(path.join(dir, 'data', 'store', 'cache'))).filter(
          (f) => f.includes('victim') && f.endsWith('.zip'),
        ).length,
        0,
      );
    },
  );

  await t.test(
    '5. a private module: served from its private upstream by TOFU, never asked of public ones',
    async (t) => {
      const env = await w.env('s5', { GONOSUMDB: 'corp.example' });
      const before = w.db.requests.length;
      const dl = await runGo(['mod', 'download', '-json', 'corp.example/internal@v1.0.0'], {
        cwd: dir,
        env,
      });
      t.equal(dl.code, 0, dl.stdout + dl.stderr);
      t.equal(w.up.count('corp.example'), 0, 'no request reached the public upstream');
      t.notOk(
        w.db.requests.slice(before).some((r) => r.includes('corp.example')),
        'no lookup reached the checksum database',
      );
      t.ok(
        w.priv.count('/corp.example/internal/@v/v1.0.0.zip') >= 1,
        'the private upstream served it',
      );
    },
  );

  await t.test(
    '6. the upstream goes away: cached modules still build and the list is served stale',
    async (t) => {
      w.up.misbehave('', { kind: 'reset' });
      const env = await w.env('s6');
      const app = await project(path.join(dir, 's6', 'app'), deps);
      await writeFile(
        path.join(app, 'go.sum'),
        await readFile(path.join(dir, 's1', 'app', 'go.sum')),
      );
      const build = await runGo(['build', '-o', path.join(app, 'app'), '.'], { cwd: app, env });
      t.equal(build.code, 0, build.stderr);
      const list = await runGo(['list', '-m', '-versions', 'example.com/lib'], { cwd: app, env });
      t.equal(list.code, 0, list.stderr);
      t.equal(list.stdout.trim(), 'example.com/lib v1.0.0 v1.1.0 v1.2.0');
      w.up.misbehave('', null);
    },
  );

  await t.test(
    '7. client auth through .netrc: a wrong password gets 401 and go reports it',
    async (t) => {
      const env = await w.env('s7');
      await writeFile(
        String(env.NETRC),
        `machine ${new URL(w.gw.url).host} login ci-runner-12 password not-the-token\n`,
      );
      const dl = await runGo(['mod', 'download', '-json', 'example.com/dep1@v1.0.0'], {
        cwd: dir,
        env,
      });
      t.not(dl.code, 0);
      t.match(dl.stdout, /401 Unauthorized/);
    },
  );

  await t.test(
    '8. modgate policy check go.sum in a CI script fails on a banned requirement',
    async (t) => {
      const sum = path.join(dir, 's8.go.sum');
      await writeFile(
        sum,
        `${await readFile(path.join(dir, 's1', 'app', 'go.sum'), 'utf8')}example.com/lib v1.3.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n`,
      );
      const policyData = (w.config.policy as { dataFile: string }).dataFile;
      const r = await modgate(['policy', 'check', sum, '--data', policyData, '--offline'], {
        env: { GOPROXY: 'off', MODGATE_CONFIG: '' },
      });
      t.equal(r.code, 1);
      t.match(r.stdout, /DENY  example\.com\/lib v1\.3\.0\n\s+VERSION_BANNED: .*CVE-2026-4242/);
      t.match(r.stdout, /ok    example\.com\/dep1 v1\.0\.0/);
    },
  );

  await t.test(
    '9. toolchain switching through modgate: verified, run, and a tampered toolchain refused',
    async (t) => {
      const env = await w.env('s9', { GOTOOLCHAIN: 'auto' });
      const app = path.join(dir, 's9', 'app');
      await mkdir(app, { recursive: true });
      await writeFile(
        path.join(app, 'go.mod'),
        'module example.com/tc\n\ngo 1.21\n\ntoolchain go1.99.1\n',
      );
      const v = await runGo(['version'], { cwd: app, env });
      t.equal(v.code, 0, v.stderr);
      t.match(v.stdout, /fake go1\.99\.1 from modgate: version/, 'go ran the verified toolchain');
      await writeFile(
        path.join(app, 'go.mod'),
        'module example.com/tc\n\ngo 1.21\n\ntoolchain go1.99.2\n',
      );
      const bad = await runGo(['version'], {
        cwd: app,
        env: await w.env('s9b', { GOTOOLCHAIN: 'auto' }),
      });
      t.not(bad.code, 0);
      t.match(bad.stderr, /SECURITY ERROR/);
      t.notMatch(bad.stdout, /pwned/);
      t.ok(GOOS_GOARCH);
    },
  );

  await t.test(
    'afterwards: audit verify passes and the report lists exactly the modules downloaded',
    async (t) => {
      const configFile = path.join(dir, 'audit-cli.yaml');
      await writeFile(configFile, `dataDir: ${path.join(dir, 'data')}\n`);
      await w.gw.close();
      const verify = await modgate(['audit', 'verify', '--config', configFile]);
      t.equal(verify.code, 0, verify.stdout + verify.stderr);
      const report = JSON.parse(
        (await modgate(['audit', 'report', '--config', configFile, '--format', 'json'])).stdout,
      ) as {
        modules: Array<{ module: string; versions: string[]; clients: string[] }>;
        denials: Array<{ code: string }>;
        security: Array<{ event: string }>;
      };
      const served = report.modules
        .flatMap((m) => m.versions.map((v) => `${m.module}@${v}`))
        .sort();
      const expected = [
        ...deps.map(([m, v]) => `${m}@${v}`),
        'example.com/lib@v1.2.0',
        'corp.example/internal@v1.0.0',
        `golang.org/toolchain@v0.0.1-go1.99.1.${GOOS_GOARCH}`,
      ].sort();
      t.same(served, expected);
      t.ok(
        report.modules.every((m) => m.clients.includes('ci-runner-12')),
        'every download carries the client identity',
      );
      t.ok(report.denials.some((d) => d.code === 'VERSION_BANNED'));
      t.ok(report.security.some((s) => s.event === 'CHECKSUM_MISMATCH'));
    },
  );
});
