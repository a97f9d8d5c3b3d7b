import type { Test } from 'tap';
import type { SharedState } from '../../src/state/types.js';

/**
 * The shared-state contract. `replicas(n)` returns n handles with distinct
 * replica ids over ONE shared state (a fresh one per call); `expire(ms)` makes
 * time pass for leases (real time for real engines, a clock for memory).
 */
export interface StateHarness {
  replicas(n: number): Promise<SharedState[]>;
  /** Waits until leases granted `ms` ago have expired. */
  expire(ms: number): Promise<void>;
}

const N = 12;

export function stateContract(t: Test, h: StateHarness): void {
  t.test('tree heads: compare-and-set', async (t) => {
    const [a, b] = await h.replicas(2);
    t.equal(await a!.getHead('sum.example.test'), null, 'no head yet');
    t.equal(await a!.advanceHead('sum.example.test', 'x', 'h1'), false, 'wrong expected, no head');
    t.equal(await a!.advanceHead('sum.example.test', null, 'h1'), true, 'first head');
    t.equal(await b!.getHead('sum.example.test'), 'h1', 'another replica sees it');
    t.equal(await b!.advanceHead('sum.example.test', null, 'h2'), false, 'null no longer matches');
    t.equal(await b!.advanceHead('sum.example.test', 'h0', 'h2'), false, 'stale expected loses');
    t.equal(await b!.advanceHead('sum.example.test', 'h1', 'h2'), true, 'current expected wins');
    t.equal(await a!.getHead('sum.example.test'), 'h2');
    t.equal(await a!.getHead('other.example.test/sub'), null, 'databases are separate');
  });

  t.test('tree heads: exactly one of racing writers wins', async (t) => {
    const rs = await h.replicas(N);
    await rs[0]!.advanceHead('race.test', null, 'base');
    const won = await Promise.all(
      rs.map((r, i) => r.advanceHead('race.test', 'base', `next-${i}`)),
    );
    t.equal(won.filter(Boolean).length, 1, 'one winner');
    const winner = won.indexOf(true);
    for (const r of rs) t.equal(await r.getHead('race.test'), `next-${winner}`);
    const first = await Promise.all(rs.map((r, i) => r.advanceHead('fresh.test', null, `f-${i}`)));
    t.equal(first.filter(Boolean).length, 1, 'one first head');
  });

  t.test('fork evidence: recorded once, seen by every replica', async (t) => {
    const rs = await h.replicas(N);
    t.equal(await rs[1]!.forkEvidence('fork.test'), null);
    const got = await Promise.all(rs.map((r, i) => r.recordFork('fork.test', `ev-${i}`)));
    const kept = got[0]!;
    t.match(kept, /^ev-\d+$/);
    t.ok(
      got.every((g) => g === kept),
      'every racing recorder gets the one recorded evidence',
    );
    for (const r of rs) t.equal(await r.forkEvidence('fork.test'), kept);
    t.equal(await rs[0]!.recordFork('fork.test', 'later'), kept, 'later evidence does not replace');
    t.equal(await rs[0]!.forkEvidence('clean.test'), null, 'other databases unaffected');
  });

  t.test('TOFU: first writer wins, all readers see it', async (t) => {
    const rs = await h.replicas(N);
    const key = 'a'.repeat(64);
    t.equal(await rs[0]!.getTofu(key), null);
    const got = await Promise.all(rs.map((r, i) => r.claimTofu(key, `v-${i}`)));
    const kept = got[0]!;
    t.ok(
      got.every((g) => g === kept),
      'every racing writer reads back the one first value',
    );
    for (const r of rs) t.equal(await r.getTofu(key), kept);
    t.equal(await rs[3]!.claimTofu(key, 'other'), kept, 'a later claim keeps the first value');
  });

  t.test('keys are checked', async (t) => {
    const [a] = await h.replicas(1);
    for (const bad of ['', '../x', 'a/../b', 'a b', 'a\nb', 'x'.repeat(600)]) {
      await t.rejects(a!.getTofu(bad), { code: 'STORAGE_BAD_KEY' }, JSON.stringify(bad));
      await t.rejects(a!.getHead(bad), { code: 'STORAGE_BAD_KEY' });
      await t.rejects(a!.acquire(bad, 1000), { code: 'STORAGE_BAD_KEY' });
    }
  });

  t.test('leases: one holder among racers', async (t) => {
    const rs = await h.replicas(N);
    const got = await Promise.all(rs.map((r) => r.acquire('lease/one', 60_000)));
    const held = got.filter((l) => l !== null);
    t.equal(held.length, 1, 'one acquisition');
    const lease = held[0]!;
    const owner = rs[got.indexOf(lease)]!;
    t.equal(lease.holder, owner.replicaId, 'holder id is the replica id');
    t.match(await rs[0]!.holder('lease/one'), { holder: owner.replicaId });
    t.ok(await owner.renew(lease, 60_000), 'the holder renews');
    const other = rs.find((r) => r !== owner)!;
    t.equal(await other.acquire('lease/one', 60_000), null, 'still held');
    const forged = { ...lease, token: 'f'.repeat(32) };
    t.notOk(await other.renew(forged, 60_000), 'a wrong token cannot renew');
    await other.release(forged);
    t.match(await other.holder('lease/one'), { holder: owner.replicaId }, 'nor release');
    await owner.release(lease);
    t.equal(await other.holder('lease/one'), null, 'released');
    const again = await other.acquire('lease/one', 60_000);
    t.ok(again, 'free again after release');
    t.equal(again?.holder, other.replicaId);
  });

  t.test('leases: a crashed holder is taken over after its ttl', async (t) => {
    const rs = await h.replicas(N);
    const ttl = 400;
    const crashed = await rs[0]!.acquire('lease/crash', ttl);
    t.ok(crashed, 'the first replica holds it, then "crashes" (never renews or releases)');
    t.equal(await rs[1]!.acquire('lease/crash', 60_000), null, 'held before the ttl');
    await h.expire(ttl);
    t.equal(await rs[1]!.holder('lease/crash'), null, 'expired leases are not reported');
    const got = await Promise.all(rs.slice(1).map((r) => r.acquire('lease/crash', 60_000)));
    t.equal(got.filter(Boolean).length, 1, 'exactly one takes it over');
    t.notOk(await rs[0]!.renew(crashed!, 60_000), 'the old holder cannot renew');
    await rs[0]!.release(crashed!);
    t.ok(await rs[1]!.holder('lease/crash'), 'nor release the new holder');
  });

  t.test('check passes on a working engine', async (t) => {
    const [a] = await h.replicas(1);
    await t.resolves(a!.check());
  });
}
