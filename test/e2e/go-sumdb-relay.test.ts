import t from 'tap';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  makeModule,
  startFakeUpstream,
  sumdbRecords,
  type FakeModule,
} from '../helpers/fake-upstream.js';
import { startFakeSumdb, type FakeRecord } from '../helpers/fake-sumdb.js';
import { startTestGateway } from '../helpers/gateway.js';
import { goEnv, runGo } from '../helpers/gocmd.js';
import { readRecords } from '../../src/audit/query.js';
import { testdir } from '../helpers/testdir.js';

// Go's published test key (golang.org/x/mod and cmd/go tests): its name holds a "/".
const KEYS = {
  verifier: 'localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6',
  signer:
    'PRIVATE+KEY+localhost.localdev/sumdb+00000c67+AXu6+oaVaOYuQOFrf1V59JK1owcFlJcHwwXHDfDGxSPk',
};

/**
 * The go command reaches the checksum database only through modgate's
 * /sumdb/ relay (the database's own host does not resolve), and verifies
 * every lookup and tile it gets from the relay with the test key.
 */
t.test('the go command verifies through the /sumdb/ relay with the x/mod test key', async (t) => {
  const dir = testdir(t);
  const mods: FakeModule[] = [
    await makeModule('example.com/alpha', 'v1.0.0', {
      'go.mod': 'module example.com/alpha\n\ngo 1.21\n',
    }),
    await makeModule('example.com/beta', 'v1.2.0', {
      'go.mod': 'module example.com/beta\n\ngo 1.21\n',
    }),
    await makeModule('github.com/BigCorp/Gamma', 'v0.3.0', {
      'go.mod': 'module github.com/BigCorp/Gamma\n\ngo 1.21\n',
    }),
  ];
  // Enough other records that proofs need full, partial and level-1 tiles.
  const filler: FakeRecord[] = Array.from({ length: 300 }, (_, i) => ({
    path: `example.org/filler${i}`,
    version: 'v1.0.0',
    h1: `h1:${createHash('sha256').update(`z${i}`).digest('base64')}`,
    modH1: `h1:${createHash('sha256').update(`m${i}`).digest('base64')}`,
  }));
  const db = await startFakeSumdb({
    keys: KEYS,
    records: [...filler.slice(0, 150), ...(await sumdbRecords(mods, dir)), ...filler.slice(150)],
  });
  t.equal(db.name, 'localhost.localdev/sumdb');
  const up = await startFakeUpstream(mods);
  const dataDir = path.join(dir, 'data');
  const gw = await startTestGateway(dataDir, {
    upstream: up.url,
    sumdb: `${KEYS.verifier} ${db.url}`,
  });
  t.teardown(async () => {
    await up.close();
    await db.stop();
  });
  const env = await goEnv(dir, { GOPROXY: gw.url, GOSUMDB: KEYS.verifier, GOFLAGS: '-modcacherw' });
  const got = await runGo(
    [
      'mod',
      'download',
      '-json',
      'example.com/alpha@v1.0.0',
      'example.com/beta@v1.2.0',
      'github.com/BigCorp/Gamma@v0.3.0',
    ],
    { cwd: dir, env },
  );
  t.equal(got.code, 0, got.stdout + got.stderr);
  t.notMatch(got.stdout + got.stderr, /SECURITY ERROR|verifying/);
  // The go command's own verified state: the tree head it accepted, under the database's name.
  const head = await readFile(
    path.join(env.GOPATH!, 'pkg', 'sumdb', 'localhost.localdev', 'sumdb', 'latest'),
    'utf8',
  );
  t.match(head, /^go\.sum database tree\n303\n/);
  t.ok(db.requests.some((r) => r.startsWith('/lookup/github.com/!big!corp/!gamma@v0.3.0')));

  await writeFile(path.join(dir, 'go.mod'), 'module example.com/e2e\n\ngo 1.21\n');
  const get = await runGo(['get', 'example.com/beta@v1.2.0'], { cwd: dir, env });
  t.equal(get.code, 0, get.stderr);
  t.match(await readFile(path.join(dir, 'go.sum'), 'utf8'), /^example\.com\/beta v1\.2\.0 h1:/m);

  await gw.close();
  const relayed: string[] = [];
  for await (const r of readRecords(path.join(dataDir, 'audit')))
    if (r.type === 'access' && r.kind === 'sumdb' && r.status === 200) relayed.push(r.path);
  const base = '/sumdb/localhost.localdev/sumdb';
  t.ok(relayed.includes(`${base}/supported`), 'the go command probed the relay');
  t.ok(relayed.some((p) => p.startsWith(`${base}/lookup/example.com/alpha@v1.0.0`)));
  t.ok(
    relayed.some((p) => p.startsWith(`${base}/tile/8/`)),
    'tiles came through the relay',
  );
});
