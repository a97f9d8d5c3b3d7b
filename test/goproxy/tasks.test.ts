import t from 'tap';
import { TaskSet } from '../../src/goproxy/tasks.js';

function gate(): { open: () => void; opened: Promise<void> } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

t.test('idle waits for running tasks and those they start, and aborts nothing', async (t) => {
  const tasks = new TaskSet();
  const first = gate();
  const second = gate();
  const seen: string[] = [];
  void tasks.run(async (signal) => {
    await first.opened;
    seen.push(`first aborted=${signal.aborted}`);
    void tasks.run(async () => {
      await second.opened;
      seen.push('second');
    });
  });
  let idle = false;
  const waiting = tasks.idle().then(() => (idle = true));
  first.open();
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.equal(idle, false, 'the follow-up task is still running');
  second.open();
  await waiting;
  t.same(seen, ['first aborted=false', 'second']);
  t.equal(tasks.size, 0);
  t.equal(tasks.closed, false);
});

t.test('idle with nothing running resolves at once', async (t) => {
  const tasks = new TaskSet();
  await tasks.idle();
  t.equal(tasks.size, 0);
});
