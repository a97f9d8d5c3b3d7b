import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { conformance, readJson, td } from '../helpers/testdata.js';
import {
  loadTxtarModules,
  startFakeUpstream,
  escapePath,
  escapeVersion,
} from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { goEnv, runGo } from '../helpers/gocmd.js';
import { testdir } from '../helpers/testdir.js';

interface FixtureSum {
  module: string;
  version: string;
  checkErr: string;
  fileNameMatches: boolean;
}

/** The real go command against modgate in front of the fake upstream (GOSUMDB=off). */
t.test('go mod download, go list -versions and go get @latest through modgate', async (t) => {
  conformance(t);
  const modules = await loadTxtarModules(td('go', 'mod'));
  const up = await startFakeUpstream(modules);
  const dir = testdir(t);
  const gw = await startTestGateway(path.join(dir, 'data'), { upstream: up.url, sumdb: 'off' });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  const env = await goEnv(dir, { GOPROXY: gw.url, GOSUMDB: 'off' });
  const sums = await readJson<FixtureSum[]>('go', 'mod_fixture_sums.json');
  // rsc.io/badzip is broken on purpose (a file outside the module prefix): modgate must refuse it.
  const valid = sums.filter(
    (s) => s.checkErr === '<nil>' && s.fileNameMatches && s.module !== 'rsc.io/badzip',
  );
  t.ok(valid.length >= 20, `${valid.length} valid fixtures`);

  const dl = await runGo(
    ['mod', 'download', '-json', ...valid.map((s) => `${s.module}@${s.version}`)],
    { cwd: dir, env },
  );
  t.equal(
    dl.code,
    0,
    dl.stderr +
      dl.stdout
        .split('\n')
        .filter((l) => l.includes('"Error"'))
        .join('\n'),
  );
  const cache = path.join(String(env.GOMODCACHE), 'cache', 'download');
  for (const s of valid) {
    const m = modules.find((x) => x.path === s.module && x.version === s.version)!;
    const base = path.join(cache, escapePath(s.module), '@v', escapeVersion(s.version));
    t.same(
      await readFile(`${base}.mod`, 'utf8'),
      m.mod,
      `${s.module}@${s.version} .mod byte for byte`,
    );
    t.same(await readFile(`${base}.zip`), m.zip, `${s.module}@${s.version} .zip byte for byte`);
  }

  const bad = await runGo(['mod', 'download', '-json', 'rsc.io/badzip@v1.0.0'], { cwd: dir, env });
  t.not(bad.code, 0, 'a malformed zip is refused');
  t.match(bad.stdout, /502 Bad Gateway[\s\S]*ZIP_PATH_INVALID/, "go shows modgate's reason");

  const versions = await runGo(['list', '-m', '-versions', 'rsc.io/sampler'], { cwd: dir, env });
  t.equal(versions.code, 0, versions.stderr);
  t.equal(versions.stdout.trim(), 'rsc.io/sampler v1.0.0 v1.3.0 v1.3.1 v1.99.99');

  await writeFile(path.join(dir, 'go.mod'), 'module example.com/e2e\n\ngo 1.21\n');
  const get = await runGo(['get', 'rsc.io/sampler@latest'], { cwd: dir, env });
  t.equal(get.code, 0, get.stderr);
  t.match(await readFile(path.join(dir, 'go.mod'), 'utf8'), /rsc\.io\/sampler v1\.99\.99/);
});
