import type { Lease, SharedState } from './types.js';
import { checkKey, checkTtl, newToken, unavailable } from './support.js';

/** What memory replicas share: one per simulated cluster. */
export class MemoryBacking {
  readonly heads = new Map<string, string>();
  readonly forks = new Map<string, string>();
  readonly tofu = new Map<string, string>();
  readonly leases = new Map<string, Lease>();
  /** Set to make every call fail, as an engine that is down. */
  down = false;
  now: () => number = Date.now;
}

/**
 * The shared-state port in memory, for unit tests: replicas made over one
 * MemoryBacking see one state. Every operation is atomic (no await inside).
 */
export class MemoryState implements SharedState {
  readonly engine = 'memory';

  constructor(
    readonly replicaId: string,
    readonly backing: MemoryBacking = new MemoryBacking(),
  ) {}

  private gate(): MemoryBacking {
    if (this.backing.down)
      throw unavailable('memory', 'engine', new Error('the memory engine is down'));
    return this.backing;
  }

  async getHead(db: string): Promise<string | null> {
    return this.gate().heads.get(checkKey('database', db)) ?? null;
  }

  async advanceHead(db: string, expected: string | null, next: string): Promise<boolean> {
    const b = this.gate();
    if ((b.heads.get(checkKey('database', db)) ?? null) !== expected) return false;
    b.heads.set(db, next);
    return true;
  }

  async recordFork(db: string, evidence: string): Promise<string> {
    const b = this.gate();
    checkKey('database', db);
    if (!b.forks.has(db)) b.forks.set(db, evidence);
    return b.forks.get(db) as string;
  }

  async forkEvidence(db: string): Promise<string | null> {
    return this.gate().forks.get(checkKey('database', db)) ?? null;
  }

  async claimTofu(key: string, value: string): Promise<string> {
    const b = this.gate();
    checkKey('tofu', key);
    if (!b.tofu.has(key)) b.tofu.set(key, value);
    return b.tofu.get(key) as string;
  }

  async getTofu(key: string): Promise<string | null> {
    return this.gate().tofu.get(checkKey('tofu', key)) ?? null;
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | null> {
    const b = this.gate();
    checkKey('lease', key);
    const now = b.now();
    const cur = b.leases.get(key);
    if (cur && cur.expiresAt > now) return null;
    const lease = {
      key,
      holder: this.replicaId,
      token: newToken(),
      expiresAt: now + checkTtl(ttlMs),
    };
    b.leases.set(key, lease);
    return { ...lease };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const b = this.gate();
    const cur = b.leases.get(lease.key);
    const now = b.now();
    if (!cur || cur.token !== lease.token || cur.expiresAt <= now) return false;
    cur.expiresAt = now + checkTtl(ttlMs);
    lease.expiresAt = cur.expiresAt;
    return true;
  }

  async release(lease: Lease): Promise<void> {
    const b = this.gate();
    if (b.leases.get(lease.key)?.token === lease.token) b.leases.delete(lease.key);
  }

  async holder(key: string): Promise<{ holder: string; expiresAt: number } | null> {
    const b = this.gate();
    const cur = b.leases.get(checkKey('lease', key));
    return cur && cur.expiresAt > b.now() ? { holder: cur.holder, expiresAt: cur.expiresAt } : null;
  }

  async check(): Promise<void> {
    this.gate();
  }

  async close(): Promise<void> {}
}
