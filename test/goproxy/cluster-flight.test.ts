import { createHash } from 'node:crypto';
import t from 'tap';
import { ClusterFlight } from '../../src/goproxy/shared.js';
import { MemoryBacking, MemoryState } from '../../src/state/memory.js';

const NEVER = new AbortController().signal;
/** The lease key ClusterFlight uses for an artifact key. */
const leaseKey = (k: string) => `fetch/${createHash('sha256').update(k).digest('hex')}`;

function flight(
  state: MemoryState,
  o: Partial<ConstructorParameters<typeof ClusterFlight>[0]> = {},
) {
  return new ClusterFlight({
    leases: state,
    ttlMs: 60_000,
    maxPollMs: 20,
    maxWaitMs: 60_000,
    ...o,
  });
}

/** A "cache" both replicas look at, and a gate that holds the work until opened. */
function rig() {
  let cached: string | null = null;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let started!: () => void;
  const began = new Promise<void>((r) => (started = r));
  const works: string[] = [];
  const work = (who: string) => async () => {
    works.push(who);
    started();
    await gate;
    cached = `bytes by ${who}`;
    return cached;
  };
  return { check: async () => cached, work, works, open, began };
}

t.test('two replicas, one key: one does the work, the other gets its result', async (t) => {
  const backing = new MemoryBacking();
  const a = new MemoryState('a', backing);
  const b = new MemoryState('b', backing);
  const r = rig();
  const pa = flight(a).run('k', NEVER, r.check, r.work('a'));
  await r.began;
  const pb = flight(b).run('k', NEVER, r.check, r.work('b'));
  t.match(await b.holder(leaseKey('k')), { holder: 'a' });
  r.open();
  t.same(await Promise.all([pa, pb]), ['bytes by a', 'bytes by a']);
  t.same(r.works, ['a'], 'the work ran once');
  t.equal(backing.leases.size, 0, 'the lease is released');
});

t.test('a holder that looks again after acquiring does not repeat finished work', async (t) => {
  const state = new MemoryState('a');
  let looks = 0;
  const got = await flight(state).run(
    'k',
    NEVER,
    async () => (++looks === 2 ? 'finished elsewhere' : null),
    async () => 'fetched',
  );
  t.equal(got, 'finished elsewhere');
  t.equal(looks, 2, 'looked before and after taking the lease');
});

t.test('a crashed holder is taken over once its lease expires', async (t) => {
  const backing = new MemoryBacking();
  const crashed = new MemoryState('crashed', backing);
  const b = new MemoryState('b', backing);
  t.ok(await crashed.acquire(leaseKey('k'), 300), 'held, never renewed or released');
  let ran = 0;
  const got = await flight(b).run(
    'k',
    NEVER,
    async () => null,
    async () => {
      ran++;
      t.equal((await b.holder(leaseKey('k')))?.holder, 'b', 'b holds the lease while it works');
      return 'taken over';
    },
  );
  t.equal(got, 'taken over');
  t.equal(ran, 1);
});

t.test('the holder renews its lease while the work runs', async (t) => {
  const backing = new MemoryBacking();
  const a = new MemoryState('a', backing);
  let renewals = 0;
  const renew = a.renew.bind(a);
  a.renew = async (...args) => {
    renewals++;
    return renew(...args);
  };
  await flight(a, { ttlMs: 150 }).run(
    'k',
    NEVER,
    async () => null,
    async () => {
      while (renewals < 2) await new Promise((r) => setTimeout(r, 20));
      return 'done';
    },
  );
  t.ok(renewals >= 2, 'renewed');
});

t.test('a waiter gives up after maxWaitMs, and on abort', async (t) => {
  const backing = new MemoryBacking();
  const a = new MemoryState('a', backing);
  const b = new MemoryState('b', backing);
  await a.acquire(leaseKey('k'), 600_000);
  await t.rejects(
    flight(b, { maxWaitMs: 100 }).run(
      'k',
      NEVER,
      async () => null,
      async () => 'x',
    ),
    { code: 'STATE_UNAVAILABLE', message: /held the fetch lease for k longer than 100 ms/ },
  );
  const ac = new AbortController();
  const p = flight(b).run(
    'k',
    ac.signal,
    async () => null,
    async () => 'x',
  );
  ac.abort();
  await t.rejects(p);
});

t.test('a state that is down refuses the fetch with STATE_UNAVAILABLE', async (t) => {
  const s = new MemoryState('a');
  s.backing.down = true;
  let ran = false;
  await t.rejects(
    flight(s).run(
      'k',
      NEVER,
      async () => null,
      async () => ((ran = true), 'x'),
    ),
    { code: 'STATE_UNAVAILABLE' },
  );
  t.notOk(ran, 'nothing was fetched without the lease');
});
