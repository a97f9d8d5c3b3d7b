/**
 * The local engine across the processes of one node (server.workers): what
 * PostgreSQL does for replicas, the primary process does for its workers.
 *
 * - Leases and the tree-head compare-and-set need one arbiter. The primary is
 *   one event loop, so it is that arbiter: workers ask it over the IPC channel
 *   of node:cluster, and it answers from one lease table and one in-process
 *   lock per head file (LocalState's). A worker that dies loses its leases at
 *   once (the primary sees it exit), not only after their ttl.
 * - TOFU entries and fork evidence need no arbiter: each is created with
 *   link(2) from a complete, fsynced temp file, which fails with EEXIST when
 *   the name exists, so the first writer wins across processes and no reader
 *   ever sees a part (src/storage/atomic.ts, createFileExclusive).
 * - Reads (heads, TOFU, forks) go straight to the files: every write is an
 *   atomic rename or link.
 *
 * The transport is a pair of functions, so that tests can run the same code
 * between threads, processes or in one process.
 */
import { ModgateError, isModgateError } from '../errors.js';
import { isErrorCode } from '../errors/codes.js';
import { MemoryBacking, MemoryState } from './memory.js';
import type { Lease, LeaseState } from './types.js';

/** What LocalState delegates to an arbiter when several processes share its folder. */
export interface LocalCoordination extends LeaseState {
  advanceHead(db: string, expected: string | null, next: string): Promise<boolean>;
}

const OPS = ['acquire', 'renew', 'release', 'holder', 'advanceHead'] as const;
type Op = (typeof OPS)[number];

export interface StateRequest {
  t: 'state';
  id: number;
  op: Op;
  args: unknown[];
}

export type StateReply =
  | { t: 'state-reply'; id: number; ok: true; value: unknown }
  | { t: 'state-reply'; id: number; ok: false; code: string; message: string };

export function isStateRequest(m: unknown): m is StateRequest {
  const r = m as StateRequest;
  return (
    typeof m === 'object' &&
    m !== null &&
    r.t === 'state' &&
    Number.isSafeInteger(r.id) &&
    (OPS as readonly string[]).includes(r.op) &&
    Array.isArray(r.args)
  );
}

function isStateReply(m: unknown): m is StateReply {
  const r = m as StateReply;
  return typeof m === 'object' && m !== null && r.t === 'state-reply' && Number.isSafeInteger(r.id);
}

const str = (v: unknown): string => {
  if (typeof v !== 'string') throw new ModgateError('STATE_UNAVAILABLE', 'malformed state request');
  return v;
};
const num = (v: unknown): number => {
  if (typeof v !== 'number') throw new ModgateError('STATE_UNAVAILABLE', 'malformed state request');
  return v;
};
const lease = (v: unknown): Lease => {
  const l = v as Lease;
  if (typeof v !== 'object' || v === null) throw new ModgateError('STATE_UNAVAILABLE', 'no lease');
  return {
    key: str(l.key),
    holder: str(l.holder),
    token: str(l.token),
    expiresAt: num(l.expiresAt),
  };
};

/**
 * The arbiter, in the primary. `heads` does the compare-and-set on the files
 * (a LocalState of the same folder: its lock is per process, and this is the
 * only process that writes heads).
 */
export class LocalCoordinator {
  private readonly backing = new MemoryBacking();
  private readonly members = new Map<string, MemoryState>();

  constructor(private readonly heads: Pick<LocalCoordination, 'advanceHead'>) {}

  private member(replicaId: string): MemoryState {
    let m = this.members.get(replicaId);
    if (!m) this.members.set(replicaId, (m = new MemoryState(replicaId, this.backing)));
    return m;
  }

  /** Answers one request of the worker whose replica id is `from`. */
  async handle(from: string, req: StateRequest): Promise<StateReply> {
    try {
      const value = await this.run(this.member(from), req.op, req.args);
      return { t: 'state-reply', id: req.id, ok: true, value: value ?? null };
    } catch (err) {
      const code = isModgateError(err) ? err.code : 'STATE_UNAVAILABLE';
      const message = err instanceof Error ? err.message : String(err);
      return { t: 'state-reply', id: req.id, ok: false, code, message };
    }
  }

  private run(m: MemoryState, op: Op, a: unknown[]): Promise<unknown> {
    switch (op) {
      case 'acquire':
        return m.acquire(str(a[0]), num(a[1]));
      case 'renew':
        // A worker can renew only what it holds: the token decides, as on PostgreSQL.
        return m.renew(lease(a[0]), num(a[1]));
      case 'release':
        return m.release(lease(a[0]));
      case 'holder':
        return m.holder(str(a[0]));
      case 'advanceHead':
        return this.heads.advanceHead(str(a[0]), a[1] === null ? null : str(a[1]), str(a[2]));
    }
  }

  /** A worker exited: whatever it held is free now (it cannot finish or release it). */
  gone(replicaId: string): number {
    let freed = 0;
    for (const [key, l] of this.backing.leases) {
      if (l.holder === replicaId) {
        this.backing.leases.delete(key);
        freed++;
      }
    }
    return freed;
  }

  /** Leases held now (tests and logs). */
  get held(): number {
    return this.backing.leases.size;
  }
}

export interface Channel {
  send(message: StateRequest): boolean | void;
  /** Registers the handler of incoming messages; returns a function that removes it. */
  listen(onMessage: (message: unknown) => void): () => void;
}

interface Waiting {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * The worker's side: LocalCoordination over a channel to the arbiter. Every
 * request has a deadline; a lost channel fails closed (STATE_UNAVAILABLE), so
 * a worker whose primary is gone fetches nothing cold.
 */
export class CoordinationClient implements LocalCoordination {
  private next = 1;
  private readonly waiting = new Map<number, Waiting>();
  private readonly unlisten: () => void;
  private closed = false;

  constructor(
    private readonly channel: Channel,
    private readonly timeoutMs = 10_000,
  ) {
    this.unlisten = channel.listen((m) => this.onMessage(m));
  }

  private onMessage(m: unknown): void {
    if (!isStateReply(m)) return;
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    clearTimeout(w.timer);
    if (m.ok) w.resolve(m.value);
    else {
      const code = isErrorCode(m.code) ? m.code : 'STATE_UNAVAILABLE';
      w.reject(new ModgateError(code, m.message));
    }
  }

  private call(op: Op, args: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(lost('the coordination channel is closed'));
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(lost(`the primary process did not answer ${op} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      try {
        this.channel.send({ t: 'state', id, op, args });
      } catch (err) {
        this.waiting.delete(id);
        clearTimeout(timer);
        reject(lost(`cannot reach the primary process: ${(err as Error).message}`));
      }
    });
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | null> {
    return (await this.call('acquire', [key, ttlMs])) as Lease | null;
  }

  async renew(l: Lease, ttlMs: number): Promise<boolean> {
    const ok = (await this.call('renew', [l, ttlMs])) === true;
    // The arbiter's clock decides; the local copy only tells ClusterFlight it still holds it.
    if (ok) l.expiresAt = Date.now() + ttlMs;
    return ok;
  }

  async release(l: Lease): Promise<void> {
    await this.call('release', [l]);
  }

  async holder(key: string): Promise<{ holder: string; expiresAt: number } | null> {
    return (await this.call('holder', [key])) as { holder: string; expiresAt: number } | null;
  }

  async advanceHead(db: string, expected: string | null, next: string): Promise<boolean> {
    return (await this.call('advanceHead', [db, expected, next])) === true;
  }

  /** Fails whatever still waits (the channel is gone), and stops listening. */
  close(reason = 'the coordination channel is closed'): void {
    this.closed = true;
    this.unlisten();
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      w.reject(lost(reason));
      this.waiting.delete(id);
    }
  }
}

function lost(why: string): ModgateError {
  return new ModgateError('STATE_UNAVAILABLE', `shared state (local): ${why}`, { engine: 'local' });
}
