/**
 * A group of equivalent mirrors: upstreams that serve the same bytes, so any
 * of them may answer. The order of a request is the members' score order,
 * without quarantined mirrors and mirrors whose circuit is open.
 */
import { redactUrl } from '../upstream/url.js';
import { Breaker, MirrorStats, type BreakerState } from './stats.js';

export type MirrorState = BreakerState | 'quarantined';

export interface MirrorSnapshot {
  group: string;
  upstream: string;
  state: MirrorState;
  score: number;
  latencyMs: number | null;
  p95Ms: number | null;
  errorRate: number;
  samples: number;
  /** When a quarantine ends (ISO time). */
  quarantinedUntil?: string;
}

export interface ScoringOptions {
  alpha: number;
  errorPenalty: number;
  breaker: { failures: number; coolOffMs: number };
  now: () => number;
}

/** One upstream, shared by every group and chain that names it. */
export class Mirror {
  readonly shown: string;
  readonly stats: MirrorStats;
  readonly breaker: Breaker;
  quarantinedUntil = 0;

  constructor(
    readonly url: string,
    private readonly o: ScoringOptions,
  ) {
    this.shown = redactUrl(url);
    this.stats = new MirrorStats(o.alpha);
    this.breaker = new Breaker({ ...o.breaker, now: o.now });
  }

  get state(): MirrorState {
    return this.quarantined ? 'quarantined' : this.breaker.state;
  }

  get quarantined(): boolean {
    return this.o.now() < this.quarantinedUntil;
  }

  usable(): boolean {
    return !this.quarantined && this.breaker.usable();
  }

  score(): number {
    return this.stats.score(this.o.errorPenalty);
  }

  /** An answer (2xx, 404, 410) after `ms`. */
  answered(ms: number): void {
    this.stats.observe(ms, true);
    this.breaker.success();
  }

  failed(ms: number): void {
    this.stats.observe(ms, false);
    this.breaker.failure();
  }

  /** Aborted by modgate (a hedge lost, the client left): the time is a lower bound of its latency. */
  abandoned(ms: number): void {
    if (ms > (this.stats.latencyMs ?? 0)) this.stats.observe(ms, true);
    this.breaker.release();
  }
}

export class MirrorGroup {
  constructor(
    readonly name: string,
    readonly members: readonly Mirror[],
  ) {}

  has(upstream: string): boolean {
    return this.members.some((m) => m.shown === upstream || m.url === upstream);
  }

  /** The members a request may use, best first (ties keep the configured order). */
  order(): Mirror[] {
    return this.members
      .map((m, i) => ({ m, i, s: m.score() }))
      .filter((x) => x.m.usable())
      .sort((a, b) => a.s - b.s || a.i - b.i)
      .map((x) => x.m);
  }

  snapshot(): MirrorSnapshot[] {
    return this.members.map((m) => ({
      group: this.name,
      upstream: m.shown,
      state: m.state,
      score: Math.round(m.score() * 100) / 100,
      latencyMs: m.stats.latencyMs === undefined ? null : Math.round(m.stats.latencyMs),
      p95Ms: m.stats.p95() ?? null,
      errorRate: Math.round(m.stats.errorRate * 1000) / 1000,
      samples: m.stats.samples,
      ...(m.quarantined ? { quarantinedUntil: new Date(m.quarantinedUntil).toISOString() } : {}),
    }));
  }
}
