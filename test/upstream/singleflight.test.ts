import t from 'tap';
import { ModgateError } from '../../src/errors.js';
import { SingleFlight } from '../../src/upstream/singleflight.js';

/** Work that resolves when told to, and reports whether its own signal aborted. */
function controllable<T>() {
  let resolve!: (v: T) => void;
  let started = 0;
  let signal: AbortSignal | undefined;
  const work = (s: AbortSignal): Promise<T> => {
    started++;
    signal = s;
    return new Promise<T>((res, rej) => {
      resolve = res;
      s.addEventListener('abort', () => rej(s.reason), { once: true });
    });
  };
  return {
    work,
    resolve: (v: T) => resolve(v),
    get started() {
      return started;
    },
    get signal() {
      return signal;
    },
  };
}

t.test('concurrent callers share one execution; a later call starts afresh', async (t) => {
  const sf = new SingleFlight<number>();
  const w = controllable<number>();
  const a = sf.do('k', w.work);
  const b = sf.do('k', w.work);
  t.equal(sf.size, 1);
  await new Promise((r) => setImmediate(r));
  t.equal(w.started, 1);
  w.resolve(7);
  t.same(await Promise.all([a, b]), [7, 7]);
  t.equal(sf.size, 0);
  const c = sf.do('k', async () => 8);
  t.equal(await c, 8);
});

t.test('a waiter whose signal aborts leaves; the work goes on for the others', async (t) => {
  const sf = new SingleFlight<string>();
  const w = controllable<string>();
  const gone = new AbortController();
  const leaver = sf.do('k', w.work, { signal: gone.signal });
  const stayer = sf.do('k', w.work);
  await new Promise((r) => setImmediate(r));
  const reason = new ModgateError('CLIENT_GONE', 'client went away');
  gone.abort(reason);
  await t.rejects(leaver, reason, 'the leaver stops at once with its own reason');
  t.equal(w.signal?.aborted, false, 'the shared work was not cancelled');
  w.resolve('done');
  t.equal(await stayer, 'done');
});

t.test(
  'the work is cancelled when every waiter is gone, and a new call starts afresh',
  async (t) => {
    const sf = new SingleFlight<string>();
    const w = controllable<string>();
    const c1 = new AbortController();
    const c2 = new AbortController();
    const p1 = sf.do('k', w.work, { signal: c1.signal });
    const p2 = sf.do('k', w.work, { signal: c2.signal });
    await new Promise((r) => setImmediate(r));
    c1.abort(new Error('one'));
    t.equal(w.signal?.aborted, false);
    c2.abort(new Error('two'));
    await t.rejects(p1, { message: 'one' });
    await t.rejects(p2, { message: 'two' });
    t.equal(w.signal?.aborted, true, 'nobody waits: the work is cancelled');
    t.match(w.signal?.reason, { code: 'CLIENT_GONE' });
    t.equal(sf.size, 0, 'the dying flight cannot be joined');
    t.equal(await sf.do('k', async () => 'fresh'), 'fresh');
  },
);

t.test('an already-aborted signal never starts work', async (t) => {
  const sf = new SingleFlight<string>();
  const w = controllable<string>();
  const ctl = new AbortController();
  ctl.abort(new Error('before'));
  await t.rejects(sf.do('k', w.work, { signal: ctl.signal }), { message: 'before' });
  t.equal(w.started, 0);
});

t.test('the shared work has its own deadline', async (t) => {
  const sf = new SingleFlight<string>({ what: 'tile fetch' });
  const w = controllable<string>();
  const started = performance.now();
  const p = sf.do('tile/0/000', w.work, { deadlineMs: 50 });
  await t.rejects(p, { code: 'UPSTREAM_TIMEOUT', message: /tile fetch for tile\/0\/000/ });
  t.ok(performance.now() - started >= 45);
  t.equal(w.signal?.aborted, true);
  t.equal(sf.size, 0);
});

t.test('close() aborts every flight and waits for the work to settle', async (t) => {
  const sf = new SingleFlight<string>();
  let settled = false;
  const p = sf.do(
    'k',
    (signal) =>
      new Promise<string>((_res, rej) =>
        signal.addEventListener('abort', () =>
          setTimeout(() => {
            settled = true;
            rej(signal.reason);
          }, 20),
        ),
      ),
  );
  p.catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  await sf.close();
  t.equal(settled, true, 'close resolved only after the work let go');
  await t.rejects(p, { code: 'SHUTTING_DOWN' });
  await t.rejects(
    sf.do('k', async () => 'x'),
    { code: 'SHUTTING_DOWN' },
  );
});

t.test('a failure reaches every waiter and is not kept', async (t) => {
  const sf = new SingleFlight<string>();
  let calls = 0;
  const fail = async (): Promise<string> => {
    calls++;
    throw new ModgateError('UPSTREAM_UNAVAILABLE', 'down');
  };
  const ctl = new AbortController();
  await Promise.all([
    t.rejects(sf.do('k', fail), { code: 'UPSTREAM_UNAVAILABLE' }),
    t.rejects(sf.do('k', fail, { signal: ctl.signal }), { code: 'UPSTREAM_UNAVAILABLE' }),
  ]);
  t.equal(calls, 1);
  await t.rejects(sf.do('k', fail));
  t.equal(calls, 2);
});
