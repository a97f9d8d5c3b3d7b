import t from 'tap';
import { request } from 'undici';
import { FetchCap } from '../../src/goproxy/fetch-cap.js';
import { makeModule } from '../helpers/fake-upstream.js';
import { startHeldUpstream } from '../helpers/held-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { testdir } from '../helpers/testdir.js';

/** Resolves once cond() holds, checked on each change of the cap. */
function until(cap: FetchCap, cond: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (cond()) return resolve();
    const check = () => {
      if (!cond()) return;
      cap.off('change', check);
      resolve();
    };
    cap.on('change', check);
  });
}

t.test('the cap: slots, a bounded queue, OVERLOADED beyond it, leavers dropped', async (t) => {
  const cap = new FetchCap({ concurrent: 1, queue: 1, retryAfterSeconds: 3 });
  const never = new AbortController().signal;
  const releaseA = await cap.acquire(never);
  t.equal(cap.running, 1);
  const leaver = new AbortController();
  const b = cap.acquire(leaver.signal);
  t.equal(cap.waiting, 1);
  await t.rejects(cap.acquire(never), {
    code: 'OVERLOADED',
    details: { retryAfterSeconds: 3 },
  });
  leaver.abort();
  await t.rejects(b, { code: 'CLIENT_GONE' });
  t.equal(cap.waiting, 0, 'the leaver is out of the queue');
  const c = cap.acquire(never);
  releaseA();
  releaseA();
  const releaseC = await c;
  t.equal(cap.running, 1, 'the slot passed to the next waiter; a double release is harmless');
  releaseC();
  t.equal(cap.running, 0);
  await t.rejects(cap.acquire(AbortSignal.abort()), { code: 'CLIENT_GONE' });
});

t.test(
  'cold fetches beyond the cap wait; beyond the queue they get 503 with Retry-After',
  async (t) => {
    const mods = await Promise.all(
      ['a', 'b', 'c', 'd'].map((n) => makeModule(`example.com/${n}`, 'v1.0.0')),
    );
    const up = await startHeldUpstream(mods, /\.mod$/);
    const audit = recordingAudit();
    const gw = await startTestGateway(
      testdir(t),
      { upstream: up.url, limits: { coldFetches: 1, coldFetchQueue: 1 } },
      { audit },
    );
    t.teardown(async () => {
      await gw.close();
      await up.close();
    });
    const cap = gw.coldFetches;
    const mod = (n: string) => `/example.com/${n}/@v/v1.0.0.mod`;

    const a = request(gw.url + mod('a'));
    await up.held(1);
    t.equal(cap.running, 1);
    const leaver = new AbortController();
    const b = request(gw.url + mod('b'), { signal: leaver.signal });
    b.catch(() => undefined);
    await until(cap, () => cap.waiting === 1);

    const c = await request(gw.url + mod('c'));
    t.equal(c.statusCode, 503);
    t.equal(c.headers['retry-after'], '1');
    t.match(await c.body.text(), /^OVERLOADED: modgate is busy/);
    t.equal(up.count(mod('c')), 0, 'the refused fetch never reached the upstream');
    t.ok(
      audit.decisions.some((d) => d.module === 'example.com/c' && d.codes.includes('OVERLOADED')),
    );

    leaver.abort();
    await until(cap, () => cap.waiting === 0);
    t.equal(cap.running, 1, 'a is still running');

    up.release(mod('a'));
    const ra = await a;
    t.equal(ra.statusCode, 200);
    t.equal(await ra.body.text(), mods[0]!.mod);
    await until(cap, () => cap.running === 0);
    t.equal(up.count(mod('b')), 0, 'the request that left was never fetched');

    const d = request(gw.url + mod('d'));
    await up.held(1);
    up.release(mod('d'));
    t.equal((await d).statusCode, 200);
  },
);
