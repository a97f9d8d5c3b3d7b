/** What every server launcher of the hits bench returns, and how it is started and stopped. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { Agent, request } from 'undici';

export interface Endpoint {
  /** Base URL, no trailing '/'. */
  url: string;
  /** Root of the process tree whose CPU is counted for requests to `url`. */
  pid: number;
}

export interface Server {
  http?: Endpoint;
  https?: Endpoint;
  /** What it is, as printed under the table (version, settings that matter). */
  about: string;
  stop(): Promise<void>;
}

/** A peer that could not be started: the table shows `why` in its column. */
export interface Missing {
  missing: string;
}

export type Launched = Server | Missing;

export function isMissing(s: Launched | undefined): s is Missing | undefined {
  return s === undefined || 'missing' in s;
}

/** Polls `url` until it answers 200, the process exits, or ~30 s pass. */
export async function waitReady(
  url: string,
  proc: ChildProcess,
  errTail: () => string,
): Promise<void> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    for (let i = 0; i < 300; i++) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`exited (${proc.exitCode ?? proc.signalCode}): ${errTail()}`);
      const ok = await request(url, { dispatcher }).then(
        (r) => (r.body.dump(), r.statusCode === 200),
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no answer from ${url}: ${errTail()}`);
  } finally {
    await dispatcher.close();
  }
}

/** Spawns a server process, keeping the tail of its stderr for error messages. */
export function spawnServer(
  bin: string,
  args: string[],
  opts: SpawnOptions,
): { proc: ChildProcess; errTail: () => string; stop: (signal?: NodeJS.Signals) => Promise<void> } {
  const proc = spawn(bin, args, { ...opts, stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  proc.stderr!.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-2000)));
  proc.on('error', (err) => (tail += `\n${err.message}`));
  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      proc.once('exit', () => (clearTimeout(kill), resolve()));
      proc.kill(signal);
    });
  return { proc, errTail: () => tail.trim(), stop };
}

/** The first line of an error, for a table cell. */
export function why(err: unknown): string {
  return ((err as Error).message ?? String(err)).split('\n')[0]!.slice(0, 120);
}
