import t from 'tap';
import { SharedWork } from '../../src/goproxy/shared.js';
import { TaskSet, raceSignal } from '../../src/goproxy/tasks.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

t.test(
  'one execution for concurrent callers; a leaver does not stop it for the others',
  async (t) => {
    const tasks = new TaskSet();
    const shared = new SharedWork<string>(tasks);
    const gate = deferred<string>();
    let runs = 0;
    let workSignal: AbortSignal | undefined;
    const work = async (s: AbortSignal) => {
      runs++;
      workSignal = s;
      return gate.promise;
    };
    const leaver = new AbortController();
    const first = shared.do('k', leaver.signal, work);
    const second = shared.do('k', new AbortController().signal, work);
    leaver.abort();
    await t.rejects(first, { code: 'CLIENT_GONE' }, 'the leaver stops waiting at once');
    t.equal(workSignal?.aborted, false, 'the work goes on for the other caller');
    gate.resolve('done');
    t.equal(await second, 'done');
    t.equal(runs, 1);
    t.equal(shared.size, 0, 'settled work is dropped');
  },
);

t.test('work nobody waits for any more is aborted', async (t) => {
  const tasks = new TaskSet();
  const shared = new SharedWork<string>(tasks);
  let workSignal: AbortSignal | undefined;
  const a = new AbortController();
  const b = new AbortController();
  const work = (s: AbortSignal) => {
    workSignal = s;
    return raceSignal(new Promise<string>(() => undefined), s);
  };
  const p1 = shared.do('k', a.signal, work);
  const p2 = shared.do('k', b.signal, work);
  a.abort();
  await t.rejects(p1);
  t.equal(workSignal?.aborted, false);
  b.abort();
  await t.rejects(p2);
  t.equal(workSignal?.aborted, true, 'aborted with its last caller');
  t.equal(shared.size, 0);
  await tasks.close();
  t.equal(tasks.size, 0);
});

t.test('close() aborts running tasks, waits for them, and refuses new ones', async (t) => {
  const tasks = new TaskSet();
  let finished = false;
  const running = tasks.run(async (s) => {
    await new Promise<void>((resolve) => s.addEventListener('abort', () => resolve()));
    // Work done while settling (e.g. removing a temp file) is awaited too.
    await new Promise<void>((resolve) => setImmediate(resolve));
    finished = true;
  });
  const tracked = new Promise<void>((resolve) => setImmediate(resolve));
  tasks.track(tracked);
  t.equal(tasks.size, 2);
  await tasks.close();
  t.equal(finished, true, 'close() returned only after the task settled');
  await running;
  await t.rejects(
    tasks.run(async () => 'late'),
    { code: 'SHUTTING_DOWN' },
  );
});
