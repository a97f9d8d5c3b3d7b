import t from 'tap';
import { Readable } from 'node:stream';
import { validateConfig } from '../../src/config/load.js';
import { ModgateError } from '../../src/errors.js';
import { Mirror, MirrorGroup } from '../../src/routing/group.js';
import { race } from '../../src/routing/hedge.js';
import { planGroups } from '../../src/routing/plan.js';
import { Breaker, MirrorStats } from '../../src/routing/stats.js';
import type { UpstreamResponse } from '../../src/upstream/client.js';

t.test(
  'the breaker opens after N consecutive failures, half-opens after the cool-off',
  async (t) => {
    let now = 0;
    const b = new Breaker({ failures: 3, coolOffMs: 1000, now: () => now });
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    t.equal(b.state, 'closed', 'a success resets the count');
    b.failure();
    t.equal(b.state, 'open');
    t.notOk(b.usable());
    now = 999;
    t.equal(b.state, 'open');
    now = 1000;
    t.equal(b.state, 'half-open');
    t.ok(b.usable());
    b.begin();
    t.notOk(b.usable(), 'one trial at a time');
    b.failure();
    t.equal(b.state, 'open', 'a failed trial opens it again');
    now = 2000;
    b.begin();
    b.release();
    t.ok(b.usable(), 'an aborted trial frees the slot');
    b.begin();
    b.success();
    t.equal(b.state, 'closed');
  },
);

t.test('scores weigh latency by errors; p95 of the recent window', async (t) => {
  const s = new MirrorStats(0.5);
  t.equal(s.score(10), 0, 'never measured: tried first');
  s.observe(100, true);
  s.observe(200, true);
  t.equal(s.latencyMs, 150);
  t.equal(s.score(10), 150);
  s.observe(10, false);
  t.equal(s.latencyMs, 150, 'a fast failure says nothing of latency');
  t.equal(s.errorRate, 0.5);
  t.equal(s.score(10), 150 * 6 + 5);
  const w = new MirrorStats(0.3);
  for (let i = 1; i <= 100; i++) w.observe(i, true);
  t.equal(w.p95(), 97, 'the window keeps the last 64 samples (37..100)');
});

function response(upstream: string, status = 200): UpstreamResponse {
  const body = Readable.from([Buffer.from('x')]) as unknown as UpstreamResponse['body'];
  (body as unknown as { dump: () => Promise<void> }).dump = async () => undefined;
  return { upstream, status, headers: {}, body };
}

const opts = {
  alpha: 0.5,
  errorPenalty: 10,
  breaker: { failures: 2, coolOffMs: 1000 },
  now: () => 0,
};

t.test('race: a hedge wins when the first stalls; the loser is aborted', async (t) => {
  const a = new Mirror('http://a.test', opts);
  const b = new Mirror('http://b.test', opts);
  const aborted: string[] = [];
  const r = await race({
    order: [a, b],
    send: (m, signal) =>
      m === a
        ? new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              aborted.push(m.url);
              reject(signal.reason);
            }),
          )
        : Promise.resolve(response(m.shown)),
    hedgeMs: () => 5,
    signal: new AbortController().signal,
  });
  t.equal(r.winner, b);
  t.ok(r.hedged);
  t.same(aborted, ['http://a.test'], 'the stalled request was aborted');
  t.equal(a.breaker.state, 'closed', 'an abandoned request is no failure');
});

t.test('race: errors and 404 move on; the last error wins over an earlier 404', async (t) => {
  const [a, b, c] = ['a', 'b', 'c'].map((n) => new Mirror(`http://${n}.test`, opts)) as [
    Mirror,
    Mirror,
    Mirror,
  ];
  const fail = () => Promise.reject(new ModgateError('UPSTREAM_UNAVAILABLE', 'down'));
  const nf = await race({
    order: [a, b],
    send: (m) => (m === a ? fail() : Promise.resolve(response(m.shown, 404))),
    signal: new AbortController().signal,
  });
  t.equal(nf.res.status, 404, 'a 404 after an error');
  t.equal(a.stats.errorRate, 1);
  await t.rejects(
    race({
      order: [a, b, c],
      send: (m) => (m === c ? fail() : Promise.resolve(response(m.shown, 404))),
      signal: new AbortController().signal,
    }),
    { code: 'UPSTREAM_UNAVAILABLE' },
  );
  t.equal(a.breaker.state, 'closed', 'a 404 is a success: the count was reset');
  await t.rejects(
    race({ order: [], send: fail, signal: new AbortController().signal }),
    /every mirror of the group is out of service/,
  );
  const group = new MirrorGroup('g', [a, b, c]);
  a.quarantinedUntil = 1;
  t.notOk(group.order().includes(a), 'a quarantined mirror is not ordered');
});

function config(raw: Record<string, unknown>) {
  return validateConfig({ sumdb: 'off', ...raw });
}

t.test('groups: members must stand together, joined by |', async (t) => {
  const ok = planGroups(
    config({
      upstream: 'https://a.test|https://b.test/,https://c.test',
      mirrors: { groups: [{ members: ['https://b.test', 'https://a.test'], equivalent: true }] },
    }),
  );
  t.same(ok, [
    { name: 'https://b.test|https://a.test', members: ['https://b.test', 'https://a.test'] },
  ]);
  t.throws(
    () =>
      planGroups(
        config({
          upstream: 'https://a.test,https://b.test',
          mirrors: {
            groups: [{ members: ['https://a.test', 'https://b.test'], equivalent: true }],
          },
        }),
      ),
    { code: 'CONFIG_INVALID', message: /not together, joined by \|, in upstream/ },
  );
  t.throws(
    () =>
      planGroups(
        config({
          upstream: 'https://a.test',
          mirrors: {
            groups: [{ members: ['https://x.test', 'https://y.test'], equivalent: true }],
          },
        }),
      ),
    /no chain names its members/,
  );
  const pipes = planGroups(
    config({
      upstream: 'https://a.test|https://b.test,https://c.test',
      routes: [
        { pattern: 'corp.example', upstream: 'https://p.test|https://q.test', private: true },
      ],
      mirrors: { pipeGroups: 'equivalent' },
    }),
  );
  t.same(
    pipes.map((g) => g.members),
    [
      ['https://a.test', 'https://b.test'],
      ['https://p.test', 'https://q.test'],
    ],
    'every | group of 2+ entries, each chain apart',
  );
  t.same(
    planGroups(config({ upstream: 'https://a.test|https://b.test' })),
    [],
    'ordered by default',
  );
});
