/**
 * The shared-state port on local files, for one node. With one process,
 * compare-and-set is an in-process lock around an atomic file replace, and
 * leases live in memory. With several processes (server.workers), leases and
 * the compare-and-set go to the primary process (`coordinator`,
 * src/state/coordinator.ts); TOFU entries and fork evidence are created with
 * link(2), which is first-writer-wins across processes. Layout under `dir`:
 *   sumdb/<db>/latest       the verified tree head (as before)
 *   sumdb/<db>/fork.json    the first fork evidence (created exclusively)
 *   <tofuDir>/<key>.json    TOFU entries (created exclusively: first writer wins)
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createFileExclusive, writeFileAtomic } from '../storage/atomic.js';
import type { LocalCoordination } from './coordinator.js';
import { MemoryBacking, MemoryState } from './memory.js';
import { checkKey, unavailable } from './support.js';
import type { Lease, LeaseState, SharedState } from './types.js';

export interface LocalStateOptions {
  dir: string;
  replicaId: string;
  /** Where TOFU entries live; default <dir>/store/tofu, where earlier versions kept them. */
  tofuDir?: string;
  /** Set in a worker process: the primary arbitrates leases and tree heads. */
  coordinator?: LocalCoordination;
}

// Everything in one process that opens the same folder shares its locks and leases.
const locks = new Map<string, Promise<unknown>>();
const leaseBackings = new Map<string, MemoryBacking>();

function serialise<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const next = (locks.get(key) ?? Promise.resolve()).then(fn);
  const settled = next.catch(() => undefined);
  locks.set(key, settled);
  void settled.then(() => {
    if (locks.get(key) === settled) locks.delete(key);
  });
  return next;
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Creates `file` unless it exists; returns what the file holds afterwards. */
async function createOnce(file: string, value: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  try {
    await createFileExclusive(file, value, 0o644);
    return value;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return (await readOrNull(file)) ?? value;
}

export class LocalState implements SharedState {
  readonly engine = 'local';
  readonly replicaId: string;
  private readonly dir: string;
  private readonly tofuDir: string;
  private readonly leases: LeaseState;
  private readonly coordinator: LocalCoordination | undefined;

  constructor(o: LocalStateOptions) {
    this.dir = path.resolve(o.dir);
    this.replicaId = o.replicaId;
    this.tofuDir = path.resolve(o.tofuDir ?? path.join(this.dir, 'store', 'tofu'));
    this.coordinator = o.coordinator;
    if (o.coordinator) this.leases = o.coordinator;
    else {
      let backing = leaseBackings.get(this.dir);
      if (!backing) leaseBackings.set(this.dir, (backing = new MemoryBacking()));
      this.leases = new MemoryState(o.replicaId, backing);
    }
  }

  /** True when other processes share the folder (their leases matter to this one). */
  get coordinated(): boolean {
    return this.coordinator !== undefined;
  }

  private file(db: string, name: string): string {
    return path.join(this.dir, 'sumdb', ...checkKey('database', db).split('/'), name);
  }

  private async io<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw unavailable('local', `${what} under ${this.dir}`, err);
    }
  }

  async getHead(db: string): Promise<string | null> {
    const file = this.file(db, 'latest');
    return this.io('reading the tree head', () => readOrNull(file));
  }

  async advanceHead(db: string, expected: string | null, next: string): Promise<boolean> {
    const file = this.file(db, 'latest');
    const arbiter = this.coordinator;
    if (arbiter)
      return this.io('writing the tree head', () => arbiter.advanceHead(db, expected, next));
    return this.io('writing the tree head', () =>
      serialise(file, async () => {
        if ((await readOrNull(file)) !== expected) return false;
        await mkdir(path.dirname(file), { recursive: true });
        await writeFileAtomic(file, next);
        return true;
      }),
    );
  }

  async recordFork(db: string, evidence: string): Promise<string> {
    const file = this.file(db, 'fork.json');
    return this.io('recording fork evidence', () => createOnce(file, evidence));
  }

  async forkEvidence(db: string): Promise<string | null> {
    const file = this.file(db, 'fork.json');
    return this.io('reading fork evidence', () => readOrNull(file));
  }

  private tofuFile(key: string): string {
    return path.join(this.tofuDir, ...checkKey('tofu', key).split('/')) + '.json';
  }

  async claimTofu(key: string, value: string): Promise<string> {
    const file = this.tofuFile(key);
    return this.io('writing the TOFU ledger', () => createOnce(file, value));
  }

  async getTofu(key: string): Promise<string | null> {
    const file = this.tofuFile(key);
    return this.io('reading the TOFU ledger', () => readOrNull(file));
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | null> {
    checkKey('lease', key);
    return this.leases.acquire(key, ttlMs);
  }

  renew(lease: Lease, ttlMs: number): Promise<boolean> {
    return this.leases.renew(lease, ttlMs);
  }

  release(lease: Lease): Promise<void> {
    return this.leases.release(lease);
  }

  async holder(key: string): Promise<{ holder: string; expiresAt: number } | null> {
    checkKey('lease', key);
    return this.leases.holder(key);
  }

  check(): Promise<void> {
    return this.io('checking the folder', async () => {
      await mkdir(this.dir, { recursive: true });
    });
  }

  async close(): Promise<void> {}
}
