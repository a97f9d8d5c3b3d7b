import t from 'tap';
import { request } from 'undici';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startPostgres } from '../helpers/postgres.js';
import { startCluster } from './cluster-rig.js';

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, body: await res.body.text() };
}

for (const serveCachedWhenDown of [true, false]) {
  t.test(`PostgreSQL down (serveCachedWhenDown: ${serveCachedWhenDown})`, async (t) => {
    const pg = await startPostgres();
    t.teardown(() => pg.stop());
    const hot = await makeModule('example.com/hot', 'v1.0.0');
    const cold = await makeModule('example.com/cold', 'v1.0.0');
    const up = await startFakeUpstream([hot, cold]);
    t.teardown(() => up.close());
    const [r] = await startCluster(t, pg, 'down', {
      n: 1,
      raw: () => ({ upstream: up.url, state: { serveCachedWhenDown } }),
    });
    const gw = r!.gw;
    const ready = JSON.parse((await get(`${gw.url}/readyz`)).body) as {
      checks: Record<string, string>;
    };
    t.match(ready.checks.state, /^ok \(postgres, replica replica-a\)/);
    for (const kind of ['mod', 'zip'])
      t.equal((await get(`${gw.url}/example.com/hot/@v/v1.0.0.${kind}`)).status, 200);

    await pg.stop();
    const hit = await get(`${gw.url}/example.com/hot/@v/v1.0.0.zip`);
    if (serveCachedWhenDown) t.equal(hit.status, 200, 'a verified cache hit is still served');
    else {
      t.equal(hit.status, 503, 'hits need the state too');
      t.match(hit.body, /^STATE_UNAVAILABLE: shared state \(postgres\) is unavailable/);
    }
    const miss = await get(`${gw.url}/example.com/cold/@v/v1.0.0.zip`);
    t.equal(miss.status, 503, 'a cold fetch fails closed');
    t.match(miss.body, /^STATE_UNAVAILABLE: shared state \(postgres\) is unavailable/);
    t.notOk(
      [...up.hits.keys()].some((p) => p.startsWith('/example.com/cold/@v/v1.0.0.zip')),
      'nothing was fetched without the lease',
    );
    const res = await request(`${gw.url}/readyz`);
    const body = (await res.body.json()) as { ok: boolean; checks: Record<string, string> };
    t.match(body.checks.state, /^postgres is down: /, '/readyz names the engine');
    t.notMatch(body.checks.state, new RegExp(pg.password), 'and no password');
    t.equal(res.statusCode, serveCachedWhenDown ? 200 : 503);
    t.ok(
      r!.audit.decisions.some((d) => d.codes.includes('STATE_UNAVAILABLE')),
      'the refusal is audited',
    );
  });
}
