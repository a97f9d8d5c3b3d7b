import { readdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { hashGoMod } from '../../src/integrity/dirhash.js';
import { parseSignerKey, signNote } from '../../src/integrity/note.js';
import { formatTree } from '../../src/integrity/tlog.js';
import { hashZipFile } from '../../src/integrity/zip.js';
import { createFakeSumdb, type FakeSumdbCore } from '../helpers/fake-sumdb.js';
import { makeModule, startFakeUpstream, type FakeModule } from '../helpers/fake-upstream.js';
import { startPostgres } from '../helpers/postgres.js';
import { startCluster } from './cluster-rig.js';
import { testdir } from '../helpers/testdir.js';

const pg = await startPostgres();
t.teardown(() => pg.stop());

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, body: await res.body.text() };
}

/** Serves the fake database; `forge()` makes /latest a validly signed head of another tree. */
async function serve(core: FakeSumdbCore) {
  let forged: Buffer | null = null;
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    asked.push(p);
    if (forged && p === '/latest') return void res.writeHead(200).end(forged);
    core.handle(p).then(
      ({ status, body }) => res.writeHead(status).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    asked,
    forge() {
      // Same size as the honest tree, another root: the two heads cannot both be true.
      forged = signNote(formatTree({ n: core.size(), hash: Buffer.alloc(32, 9) }), [
        parseSignerKey(core.signerKey),
      ]);
    },
  };
}

async function recordOf(dir: string, m: FakeModule) {
  const file = path.join(dir, `${m.version}.zip`);
  await writeFile(file, m.zip);
  return { path: m.path, version: m.version, h1: await hashZipFile(file), modH1: hashGoMod(m.mod) };
}

t.test('fork evidence raised on replica A makes B and C refuse', async (t) => {
  const one = await makeModule('example.com/one', 'v1.0.0');
  const two = await makeModule('example.com/two', 'v1.0.0');
  const core = await createFakeSumdb({
    records: [await recordOf(testdir(t), one), await recordOf(testdir(t), two)],
  });
  const honest = await serve(core);
  const lying = await serve(core);
  const up = await startFakeUpstream([one, two]);
  t.teardown(() => up.close());
  const rs = await startCluster(t, pg, 'fork_cluster', {
    // A reaches the database through a path that will lie; B and C through an honest one.
    raw: (i) => ({
      upstream: up.url,
      sumdb: `${core.verifierKey} ${(i === 0 ? lying : honest).url}`,
    }),
  });
  const [a, b, c] = rs as [(typeof rs)[0], (typeof rs)[0], (typeof rs)[0]];
  for (const r of rs) {
    const res = await get(`${r.gw.url}/example.com/one/@v/v1.0.0.mod`);
    t.equal(res.status, 200, `${r.id} verifies one@v1.0.0 with the database`);
  }
  t.equal(
    (await pg.psql('SELECT count(*) FROM modgate_tree_heads', 'fork_cluster')).trim(),
    '1',
    'one shared tree head',
  );

  lying.forge();
  const seen = await get(`${a.gw.url}/sumdb/${core.name}/latest`);
  t.not(seen.status, 200, 'A refuses the forked head');
  t.match(seen.body, /SECURITY ERROR/);
  const recorded = await pg.psql('SELECT recorded_by FROM modgate_forks', 'fork_cluster');
  t.equal(recorded.trim(), a.id, 'A recorded the evidence in the shared state');

  const honestBefore = honest.asked.length;
  const zipB = await get(`${b.gw.url}/example.com/one/@v/v1.0.0.zip`);
  t.equal(zipB.status, 502, 'B refuses a cold fetch it could verify from memory');
  t.match(zipB.body, /^SUMDB_FORK: SECURITY ERROR/);
  const twoC = await get(`${c.gw.url}/example.com/two/@v/v1.0.0.mod`);
  t.equal(twoC.status, 502, 'C refuses a module it never looked up');
  t.match(twoC.body, /SUMDB_FORK/);
  const latestC = await get(`${c.gw.url}/sumdb/${core.name}/latest`);
  t.equal(latestC.status, 502, "C's checksum-database relay refuses too");
  t.notOk(
    honest.asked.slice(honestBefore).some((p) => p.startsWith('/lookup/')),
    'B and C asked the honest database nothing more: the shared evidence stopped them',
  );
  for (const r of [b, c]) {
    const cached = await readdir(path.join(r.dir, 'store', 'cache'), { recursive: true });
    t.notOk(
      cached.some((f) => String(f).endsWith('.zip') || String(f).includes('two')),
      `${r.id} cached nothing after the fork`,
    );
    t.ok(
      r.audit.decisions.some((d) => d.codes.includes('SUMDB_FORK')),
      `${r.id} audited the refusal`,
    );
  }
});
