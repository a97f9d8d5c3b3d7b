import t from 'tap';
import { mapLimit } from '../../src/cli/pool.js';

/** A deferred result per call, so the test decides when each call ends. */
function controlled(): {
  fn: (x: number) => Promise<number>;
  started: number[];
  finish(x: number): void;
} {
  const started: number[] = [];
  const resolvers = new Map<number, (v: number) => void>();
  return {
    started,
    fn: (x) =>
      new Promise<number>((resolve) => {
        started.push(x);
        resolvers.set(x, resolve);
      }),
    finish: (x) => resolvers.get(x)?.(x * 10),
  };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('mapLimit keeps at most limit calls in flight and the input order', async (t) => {
  const c = controlled();
  const items = Array.from({ length: 20 }, (_, i) => i);
  const all = mapLimit(items, 8, c.fn);
  await flush();
  t.same(c.started, [0, 1, 2, 3, 4, 5, 6, 7], 'exactly 8 start at once');
  c.finish(3);
  await flush();
  t.same(c.started.length, 9, 'one ends, one more starts');
  t.equal(c.started[8], 8);
  for (let round = 0; round < 20 && c.started.length <= 20; round++) {
    for (const x of [...c.started]) c.finish(x);
    await flush();
    if (c.started.length === 20) break;
  }
  for (const x of c.started) c.finish(x);
  t.same(
    await all,
    items.map((x) => x * 10),
    'results in input order',
  );
});

t.test('mapLimit with fewer items than the limit, and a rejection', async (t) => {
  t.same(await mapLimit([1, 2], 8, async (x) => x + 1), [2, 3]);
  t.same(await mapLimit([], 8, async (x: number) => x), []);
  await t.rejects(
    mapLimit([1, 2, 3], 2, async (x) => {
      if (x === 2) throw new Error('boom');
      return x;
    }),
    /boom/,
  );
});
