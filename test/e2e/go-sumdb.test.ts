import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { conformance, readJson, td } from '../helpers/testdata.js';
import { loadTxtarModules, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startFakeSumdb, type FakeRecord } from '../helpers/fake-sumdb.js';
import { startTestGateway } from '../helpers/gateway.js';
import { goEnv, runGo } from '../helpers/gocmd.js';
import { testdir } from '../helpers/testdir.js';

interface FixtureSum {
  module: string;
  version: string;
  checkErr: string;
  goSum: string[];
}

/**
 * The go command verifies every download itself against a checksum database
 * that it reaches through modgate's /sumdb/ proxy, while modgate verifies the
 * same bytes against the same database before serving them. Any hash or tree
 * mistake makes go fail with SECURITY ERROR.
 */
t.test('go verifies through modgate with GOSUMDB on', async (t) => {
  conformance(t);
  const sums = (await readJson<FixtureSum[]>('go', 'mod_fixture_sums.json')).filter(
    (s) => s.checkErr === '<nil>' && s.module !== 'rsc.io/badzip',
  );
  const records: FakeRecord[] = sums.map((s) => ({
    path: s.module,
    version: s.version,
    h1: s.goSum[0]!.split(' ')[2]!,
    modH1: s.goSum[1]!.split(' ')[2]!,
  }));
  const db = await startFakeSumdb({ records });
  const up = await startFakeUpstream(await loadTxtarModules(td('go', 'mod')));
  const dir = testdir(t);
  const gw = await startTestGateway(path.join(dir, 'data'), {
    upstream: up.url,
    sumdb: `${db.verifierKey} ${db.url}`,
  });
  t.teardown(async () => {
    await gw.close();
    await up.close();
    await db.stop();
  });
  const env = await goEnv(dir, { GOPROXY: gw.url, GOSUMDB: db.verifierKey });
  await writeFile(path.join(dir, 'go.mod'), 'module example.com/e2e\n\ngo 1.21\n');
  await writeFile(
    path.join(dir, 'main.go'),
    'package main\n\nimport "rsc.io/quote"\n\nfunc main() { println(quote.Hello()) }\n',
  );
  const tidy = await runGo(['get', 'rsc.io/quote@v1.5.2'], { cwd: dir, env });
  t.equal(tidy.code, 0, tidy.stderr);
  const build = await runGo(['build', '-o', path.join(dir, 'hello'), '.'], { cwd: dir, env });
  t.equal(build.code, 0, build.stderr);
  const goSum = await readFile(path.join(dir, 'go.sum'), 'utf8');
  t.match(goSum, /^rsc\.io\/quote v1\.5\.2 h1:/m);
  t.ok(
    db.requests.some((r) => r.startsWith('/lookup/rsc.io/quote@v1.5.2')),
    'the database was asked',
  );
  const upper = await runGo(
    [
      'mod',
      'download',
      '-json',
      'rsc.io/QUOTE@v1.5.2',
      'example.com/incompatiblewithsub@v2.0.0+incompatible',
    ],
    { cwd: dir, env },
  );
  t.equal(upper.code, 0, upper.stdout);

  // A module the database does not know is refused by modgate (403), not passed through.
  up.add({
    path: 'example.com/unlisted',
    version: 'v1.0.0',
    info: '{"Version":"v1.0.0"}',
    mod: 'module example.com/unlisted\n',
    zip: Buffer.alloc(0),
  });
  const unknown = await runGo(['mod', 'download', '-json', 'example.com/unlisted@v1.0.0'], {
    cwd: dir,
    env,
  });
  t.not(unknown.code, 0);
  t.match(unknown.stdout, /403 Forbidden|SECURITY ERROR|not found/);
});
