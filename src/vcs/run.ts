/**
 * Runs the go command for a vcs route: execFile-style (an argument array, no
 * shell), in its own process group so that a timeout, a cancelled request or
 * an oversized clone kills go and every git it started, at once.
 *
 * | code          | meaning                                                          |
 * |---------------|------------------------------------------------------------------|
 * | VCS_TIMEOUT   | the operation passed the route's timeoutMs; its group was killed  |
 * | VCS_TOO_LARGE | the watchdog found a clone over maxRepoBytes; its group was killed |
 * | VCS_FAILED    | the go command could not be started, or wrote too much output     |
 */
import { spawn } from 'node:child_process';
import { ModgateError } from '../errors.js';

export interface RunOptions {
  bin: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Names the route in errors. */
  route: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Cap on stdout and on stderr, each. */
  maxOutputBytes: number;
  /** Polled while the command runs: a message kills the group with VCS_TOO_LARGE. */
  watchdog?: { everyMs: number; check: () => Promise<string | undefined> };
  /** Told the process group id once the command started (tests watch it). */
  onSpawn?: (pgid: number) => void;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one go command to its end; rejects only when it had to be killed or did not start. */
export function runGo(o: RunOptions): Promise<RunResult> {
  if (o.signal.aborted) return Promise.reject(o.signal.reason);
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(o.bin, o.args, {
      cwd: o.cwd,
      env: o.env,
      detached: true,
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const seen = { out: 0, err: 0 };
    let failure: unknown;
    const kill = (why: unknown): void => {
      failure ??= why;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // The group is already gone.
        }
      }
    };
    const collect = (into: Buffer[], which: 'out' | 'err') => (b: Buffer) => {
      seen[which] += b.length;
      if (seen[which] > o.maxOutputBytes)
        return kill(
          new ModgateError('VCS_FAILED', `route ${o.route}: the go command wrote too much output`, {
            route: o.route,
          }),
        );
      into.push(b);
    };
    child.stdout.on('data', collect(out, 'out'));
    child.stderr.on('data', collect(err, 'err'));
    const timer = setTimeout(
      () =>
        kill(
          new ModgateError(
            'VCS_TIMEOUT',
            `route ${o.route}: go ${o.args[0] ?? ''} ${o.args[1] ?? ''} passed its ${o.timeoutMs} ms deadline and was killed`,
            { route: o.route, timeoutMs: o.timeoutMs },
          ),
        ),
      o.timeoutMs,
    );
    const onAbort = (): void => kill(o.signal.reason);
    o.signal.addEventListener('abort', onAbort, { once: true });
    const dog = o.watchdog ? watch(o.watchdog, o.route, kill) : undefined;
    child.once('spawn', () => child.pid !== undefined && o.onSpawn?.(child.pid));
    child.once('error', (e) => {
      failure ??= new ModgateError(
        'VCS_FAILED',
        `route ${o.route}: cannot run ${o.bin}: ${(e as NodeJS.ErrnoException).code ?? e.message}`,
        { route: o.route },
      );
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (dog) clearInterval(dog);
      o.signal.removeEventListener('abort', onAbort);
      // Whatever go left behind in its group goes with it.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Nothing left.
        }
      }
      if (failure !== undefined) return reject(failure);
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

function watch(
  dog: NonNullable<RunOptions['watchdog']>,
  route: string,
  kill: (why: unknown) => void,
): NodeJS.Timeout {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    dog
      .check()
      .then((msg) => {
        if (msg) kill(new ModgateError('VCS_TOO_LARGE', msg, { route }));
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, dog.everyMs);
  timer.unref();
  return timer;
}
