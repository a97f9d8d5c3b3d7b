import type { Test } from 'tap';

/**
 * A fixture folder for the test, removed after the test's teardowns have run.
 *
 * tap removes a `t.testdir()` folder before the teardowns registered after it,
 * so a gateway the test started could still be writing into it (a cache fill
 * after an answer): the removal then fails with ENOTEMPTY, the teardowns that
 * would close the servers are skipped, and the file times out. Registering a
 * teardown first puts the removal after every teardown.
 */
export function testdir(t: Test, content?: Parameters<Test['testdir']>[0]): string {
  t.teardown(() => undefined);
  return t.testdir(content);
}
