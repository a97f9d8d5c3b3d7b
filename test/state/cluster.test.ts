import { createHash } from 'node:crypto';
import t from 'tap';
import { request } from 'undici';
import { artifactKey } from '../../src/goproxy/keys.js';
import { PgState } from '../../src/state/pg/state.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startHeldUpstream } from '../helpers/held-upstream.js';
import { startPostgres } from '../helpers/postgres.js';
import { startCluster, until } from './cluster-rig.js';

const pg = await startPostgres();
t.teardown(() => pg.stop());

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

t.test('200 concurrent cold requests over 3 replicas cause 1 upstream fetch', async (t) => {
  const mod = await makeModule('example.com/hot', 'v1.0.0');
  const up = await startHeldUpstream([mod], /\.zip$/);
  t.teardown(() => up.close());
  const rs = await startCluster(t, pg, 'single_flight', {
    sharedStore: true,
    raw: () => ({ upstream: up.url }),
  });
  const zip = '/example.com/hot/@v/v1.0.0.zip';
  const answers = Promise.all(
    Array.from({ length: 200 }, (_, i) => get(`${rs[i % 3]!.gw.url}${zip}`)),
  );
  await up.held(1);
  // Every replica has requests waiting on its flight (the lease holder's, or a poll of the lease).
  await until('each replica waiting', () => rs.every((r) => r.gw.metrics.inflightSource() >= 1));
  up.release(zip);
  const got = await answers;
  t.ok(
    got.every((g) => g.status === 200),
    'every request answered 200',
  );
  t.ok(
    got.every((g) => g.body.equals(mod.zip)),
    'with the verified bytes',
  );
  t.equal(up.count(zip), 1, 'one upstream fetch of the zip in the whole cluster');
  const leases = await pg.psql('SELECT count(*) FROM modgate_leases', 'single_flight');
  t.equal(leases.trim(), '0', 'the lease was released');
});

t.test("a crashed holder's lease is taken over after its timeout", async (t) => {
  const mod = await makeModule('example.com/crash', 'v1.0.0');
  const up = await startFakeUpstream([mod]);
  t.teardown(() => up.close());
  const rs = await startCluster(t, pg, 'crash_takeover', {
    n: 2,
    sharedStore: true,
    raw: () => ({ upstream: up.url }),
  });
  // The holder took the lease for the zip and died: it never renews nor releases.
  const crashed = await PgState.open({
    pool: { connectionString: pg.urlFor('crash_takeover'), max: 1 },
    replicaId: 'crashed',
  });
  t.teardown(() => crashed.close());
  const key = `fetch/${createHash('sha256')
    .update(artifactKey('example.com/crash', 'v1.0.0', 'zip'))
    .digest('hex')}`;
  const lease = await crashed.acquire(key, 1500);
  t.ok(lease, 'the crashed replica holds the lease');
  const zip = '/example.com/crash/@v/v1.0.0.zip';
  const answer = get(`${rs[1]!.gw.url}${zip}`);
  t.match(await crashed.holder(key), { holder: 'crashed' }, 'still its lease while it is fresh');
  const got = await answer;
  t.equal(got.status, 200, 'served once the lease expired');
  t.ok(got.body.equals(mod.zip));
  t.equal(up.count(zip), 1, 'fetched once, by the replica that took over');
  t.notOk(await crashed.renew(lease!, 1500), 'the crashed holder lost its lease');
});
