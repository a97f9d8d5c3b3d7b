import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { makeModule, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { startHeldUpstream } from '../helpers/held-upstream.js';
import { testdir } from '../helpers/testdir.js';

const total = (up: FakeUpstream) => [...up.hits.values()].reduce((a, b) => a + b, 0);

t.test(
  'a list with a cool-down costs at most the budget; the rest is hidden, then filled',
  async (t) => {
    const versions = Array.from({ length: 200 }, (_, i) => `v1.0.${i}`);
    const up = await startFakeUpstream(
      await Promise.all(versions.map((v) => makeModule('example.com/many', v))),
    );
    const dir = testdir(t);
    const dataFile = path.join(dir, 'data.yaml');
    await writeFile(dataFile, 'minReleaseAgeHours: 24\n');
    const gw = await startTestGateway(path.join(dir, 'data'), {
      upstream: up.url,
      policy: { dataFile },
    });
    t.teardown(async () => {
      await gw.close();
      await up.close();
    });
    const list = async () => {
      const before = total(up);
      const res = await request(`${gw.url}/example.com/many/@v/list`);
      const body = await res.body.text();
      return {
        status: res.statusCode,
        listed: body.split('\n').filter(Boolean),
        hidden: Number(res.headers['x-modgate-hidden'] ?? 0),
        cost: total(up) - before,
      };
    };

    const first = await list();
    t.equal(first.status, 200);
    t.ok(first.cost <= 32, `first request: ${first.cost} upstream requests`);
    t.ok(first.hidden > 0, `${first.hidden} hidden`);
    t.equal(
      first.listed.length + first.hidden,
      200,
      'every version is listed or counted as hidden',
    );
    t.ok(first.listed.length > 0);
    for (const v of first.listed) t.ok(versions.includes(v));

    const second = await list();
    t.ok(second.cost <= 32, `second request: ${second.cost} upstream requests`);
    t.ok(second.listed.length > first.listed.length, 'the second request continues from cache');
    t.equal(second.listed.length + second.hidden, 200);
    t.ok(
      first.listed.every((v) => second.listed.includes(v)),
      'known publish times are kept',
    );

    // Bounded: each request fills at least 25 more, so 8 more requests finish the list.
    let last = second;
    for (let i = 0; i < 8 && last.hidden > 0; i++) last = await list();
    t.equal(last.hidden, 0, 'filled in the end');
    t.equal(last.listed.length, 200);
    const done = await list();
    t.equal(done.cost, 0, 'publish times are cached for good: no upstream request at all');
  },
);

t.test('a version with no time within the request deadline is hidden (fail closed)', async (t) => {
  // v1.1.0's .info never comes (until the test ends); everything else answers at once.
  const up = await startHeldUpstream(
    [
      await makeModule('example.com/slow', 'v1.0.0'),
      await makeModule('example.com/slow', 'v1.1.0'),
    ],
    /v1\.1\.0\.info$/,
  );
  const dir = testdir(t);
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, 'minReleaseAgeHours: 24\n');
  const gw = await startTestGateway(path.join(dir, 'data'), {
    upstream: up.url,
    policy: { dataFile },
    limits: { requestFactsMs: 2000 },
  });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  const res = await request(`${gw.url}/example.com/slow/@v/list`);
  t.equal(res.statusCode, 200);
  t.equal(await res.body.text(), 'v1.0.0\n');
  t.equal(res.headers['x-modgate-hidden'], '1');
  t.equal(up.count('/example.com/slow/@v/v1.1.0.info'), 1, 'asked once, then given up on');
});
