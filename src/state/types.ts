/**
 * The shared-state port: what several replicas of one gateway must agree on.
 * It knows opaque keys and strings only, nothing of modules or notes:
 *
 * - heads: per checksum database, the newest verified signed tree head, moved
 *   only by compare-and-set (the caller has checked the consistency proof from
 *   `expected` to `next`; on a lost race it re-reads, re-checks and retries);
 * - forks: fork evidence per database, recorded once (the first wins); its
 *   presence stops every replica's checksum-database answers;
 * - tofu: a first-writer-wins ledger of sealed values;
 * - leases: cross-replica single-flight, held by one replica for a bounded time.
 *
 * Contract (test/state/contract.ts, which every implementation must pass, with
 * concurrent writers): exactly one of racing advanceHead calls with the same
 * `expected` wins; racing tofu claims leave one value that every reader sees;
 * a lease has one holder at a time and is free again once its ttl has passed
 * without a renewal.
 */

/** An acquired lease: `token` identifies this acquisition (renew and release need it). */
export interface Lease {
  key: string;
  holder: string;
  token: string;
  /** Milliseconds since the epoch, on the engine's clock. */
  expiresAt: number;
}

export interface HeadState {
  getHead(db: string): Promise<string | null>;
  /** Stores `next` only if the stored head is still `expected` (null: none yet). */
  advanceHead(db: string, expected: string | null, next: string): Promise<boolean>;
}

export interface ForkState {
  /** Records evidence unless some is already recorded; returns the recorded evidence. */
  recordFork(db: string, evidence: string): Promise<string>;
  /** The recorded evidence, or null. Checked before every checksum-database answer. */
  forkEvidence(db: string): Promise<string | null>;
}

export interface TofuState {
  /** Stores `value` under `key` unless a value is there; returns the stored value. */
  claimTofu(key: string, value: string): Promise<string>;
  getTofu(key: string): Promise<string | null>;
}

export interface LeaseState {
  /** The lease, or null when another acquisition holds it and has not expired. */
  acquire(key: string, ttlMs: number): Promise<Lease | null>;
  /** Extends a held lease; false when it expired or was taken over. */
  renew(lease: Lease, ttlMs: number): Promise<boolean>;
  /** Frees a held lease (no effect once another holder took it over). */
  release(lease: Lease): Promise<void>;
  /** Who holds `key` now, if anyone (expired leases are not reported). */
  holder(key: string): Promise<{ holder: string; expiresAt: number } | null>;
}

export interface SharedState extends HeadState, ForkState, TofuState, LeaseState {
  /** The engine's name for /readyz and logs: "local", "postgres", "memory". */
  readonly engine: string;
  /** This replica's identity (the lease holder id). */
  readonly replicaId: string;
  /** Readiness: throws STATE_UNAVAILABLE when the engine cannot be used. */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** Keys are short printable strings; implementations reject anything else. */
export const STATE_KEY = /^[A-Za-z0-9._~:@/+-]{1,512}$/;
