import { readdir } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { hashGoMod } from '../../src/integrity/dirhash.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startPostgres } from '../helpers/postgres.js';
import { startCluster } from './cluster-rig.js';

const pg = await startPostgres();
t.teardown(() => pg.stop());

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

t.test('a TOFU entry made by one replica binds the others', async (t) => {
  const good = await makeModule('corp.example/lib', 'v1.0.0');
  const evil = await makeModule('corp.example/lib', 'v1.0.0', { 'x.go': 'package x // evil\n' });
  const upGood = await startFakeUpstream([good]);
  const upEvil = await startFakeUpstream([evil]);
  t.teardown(async () => {
    await upGood.close();
    await upEvil.close();
  });
  const rs = await startCluster(t, pg, 'tofu_cluster', {
    raw: (i) => {
      const url = i === 0 ? upGood.url : upEvil.url;
      return { upstream: url, routes: [{ pattern: 'corp.example', upstream: url, private: true }] };
    },
  });
  const mod = '/corp.example/lib/@v/v1.0.0.zip';
  t.equal((await get(`${rs[0]!.gw.url}${mod}`)).status, 200, 'the first replica trusts it first');
  const count = () => pg.psql('SELECT count(*) FROM modgate_tofu', 'tofu_cluster');
  const entries = await count();
  for (const r of rs.slice(1)) {
    const res = await get(`${r.gw.url}${mod}`);
    t.not(res.status, 200, `${r.id} refuses other bytes for the same version`);
    t.match(res.body.toString(), /SECURITY ERROR/);
    t.equal(upEvil.count(mod), rs.indexOf(r), 'it did fetch them to compare');
    const cached = await readdir(path.join(r.dir, 'store', 'cache'), { recursive: true }).catch(
      () => [],
    );
    t.notOk(
      cached.some((f) => String(f).endsWith('.zip')),
      'nothing of the refused zip is cached',
    );
    t.ok(
      r.audit.decisions.some((d) => d.codes.includes('CHECKSUM_MISMATCH')),
      'the refusal is in the audit trail',
    );
  }
  t.equal(await count(), entries, 'the ledger still holds the first entries only');
  t.equal(
    hashGoMod(good.mod),
    hashGoMod(evil.mod),
    'the go.mod files agree (only the zip differs)',
  );
});
