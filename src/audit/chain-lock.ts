/**
 * One writer per worker chain on disk: a lock file in the chain's folder names
 * the process that writes it (pid and the kernel's start time of that pid, so
 * that a pid reused after a crash or in a new container does not look alive).
 * A live holder makes attach fail with AUDIT_REPLICA_BUSY (the log stays
 * unhealthy and retries, as on PostgreSQL); a dead holder's lock is taken over.
 * The primary of server.workers already runs one process per slot; this keeps
 * a worker that outlives its primary from sharing a chain with its successor.
 */
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ModgateError } from '../errors.js';
import { createFileExclusive } from '../storage/atomic.js';

export const LOCK_FILE = 'writer.lock';

/** The start time of a process (clock ticks since boot, /proc/<pid>/stat field 22), or null. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(pid: number, start: string): boolean {
  if (startTime(process.pid) !== null) return startTime(pid) === start;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class ChainLock {
  private readonly file: string;
  private readonly me = `${process.pid} ${startTime(process.pid) ?? '-'}\n`;
  private held = false;

  constructor(
    dir: string,
    private readonly replica: string,
    /** Another lock of the same kind (the data folder's serve.lock): its file and its refusal. */
    private readonly other?: { file: string; busy: (file: string) => ModgateError },
  ) {
    this.file = path.join(dir, other?.file ?? LOCK_FILE);
  }

  /** Takes the lock (a few tries, bounded); throws AUDIT_REPLICA_BUSY while another live process holds it. */
  async take(): Promise<void> {
    if (this.held) return;
    for (let i = 0; i < 3; i++) {
      try {
        await createFileExclusive(this.file, this.me, 0o644);
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = await readFile(this.file, 'utf8').catch(() => '');
      if (text === this.me) {
        this.held = true;
        return;
      }
      const [pid, start] = text.trim().split(' ');
      if (pid && start && /^\d+$/.test(pid) && alive(Number(pid), start)) break;
      // A dead holder (or a torn file from a crash during its creation): take over.
      await rm(this.file, { force: true });
    }
    if (this.other) throw this.other.busy(this.file);
    throw new ModgateError(
      'AUDIT_REPLICA_BUSY',
      `the audit chain of ${this.replica} is being written by another live process (${this.file})`,
      { replica: this.replica },
    );
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    const text = await readFile(this.file, 'utf8').catch(() => '');
    if (text === this.me) await rm(this.file, { force: true });
  }
}
