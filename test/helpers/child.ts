import type { ChildProcess } from 'node:child_process';

/**
 * Stops a child process and resolves once it has exited: `signal` first, then
 * SIGKILL after graceMs. A teardown awaits it, so that the child is not still
 * writing into a fixture folder while that folder is removed.
 */
export function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
