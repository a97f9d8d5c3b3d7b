import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from '../helpers/testdata.js';
import { freePort } from './cluster-rig.js';

/** One `modgate serve --workers N`: the primary's process and what its log says of its workers. */
export interface WorkerNode {
  url: string;
  config: string;
  primary: ChildProcess;
  /** Live worker pids by slot, from the primary's "worker ready" lines. */
  workers: Map<number, number>;
  /** Every "worker ready" line seen (restarts add lines). */
  readyLines: number;
  stdout: string;
  stderr: string;
}

interface LogLine {
  msg?: string;
  slot?: number;
  pid?: number;
  replica?: string;
}

/** Starts the primary and resolves once all `count` workers said they are ready (bounded). */
export async function spawnWorkers(
  config: string,
  yaml: string,
  count: number,
  env: NodeJS.ProcessEnv,
): Promise<WorkerNode> {
  await writeFile(config, yaml);
  const port = await freePort();
  const primary = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'bin', 'modgate.js'),
      'serve',
      '--config',
      config,
      '--listen',
      `127.0.0.1:${port}`,
      '--workers',
      String(count),
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  const node: WorkerNode = {
    url: `http://127.0.0.1:${port}`,
    config,
    primary,
    workers: new Map(),
    readyLines: 0,
    stdout: '',
    stderr: '',
  };
  let partial = '';
  primary.stdout!.on('data', (d: Buffer) => {
    node.stdout += d.toString();
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      const rec = JSON.parse(l) as LogLine;
      if (rec.msg === 'worker ready' && rec.slot && rec.pid) {
        node.workers.set(rec.slot, rec.pid);
        node.readyLines++;
      }
    }
  });
  primary.stderr!.on('data', (d: Buffer) => (node.stderr += d.toString()));
  let exited = false;
  primary.once('exit', () => (exited = true));
  await waitFor(`${count} workers ready`, () => {
    if (exited) throw new Error(`the primary exited at start: ${node.stderr}${node.stdout}`);
    return node.workers.size === count;
  });
  return node;
}

/** Waits for a condition that an event elsewhere makes true; bounded (a busy machine starts slowly). */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3600; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Whether a process is alive (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function stopNode(n: WorkerNode): Promise<number | null> {
  if (n.primary.exitCode !== null || n.primary.signalCode !== null)
    return Promise.resolve(n.primary.exitCode);
  return new Promise((resolve) => {
    n.primary.once('exit', (code) => resolve(code));
    n.primary.kill('SIGTERM');
  });
}
