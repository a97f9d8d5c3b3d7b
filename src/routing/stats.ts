/**
 * What routing knows of one mirror: an exponentially weighted latency and
 * error rate (from real traffic and background probes), a window of recent
 * latencies for the hedging delay, and a circuit breaker.
 */

/** Recent latencies kept for the p95 (a bounded ring). */
const WINDOW = 64;

export class MirrorStats {
  /** Exponentially weighted time to the answer's headers; undefined before the first sample. */
  latencyMs: number | undefined;
  /** Exponentially weighted share of failed attempts (0..1). */
  errorRate = 0;
  samples = 0;
  private readonly ring: number[] = [];
  private next = 0;

  constructor(private readonly alpha: number) {}

  observe(ms: number, ok: boolean): void {
    const a = this.alpha;
    this.samples++;
    this.errorRate = this.samples === 1 ? Number(!ok) : a * Number(!ok) + (1 - a) * this.errorRate;
    // A failure says little about latency unless it took long (a timeout): only then is it counted.
    if (!ok && this.latencyMs !== undefined && ms < this.latencyMs) return;
    this.latencyMs = this.latencyMs === undefined ? ms : a * ms + (1 - a) * this.latencyMs;
    if (this.ring.length < WINDOW) this.ring.push(ms);
    else this.ring[this.next] = ms;
    this.next = (this.next + 1) % WINDOW;
  }

  /** The 95th percentile of the recent latencies, or undefined without any. */
  p95(): number | undefined {
    if (this.ring.length === 0) return undefined;
    const sorted = [...this.ring].sort((x, y) => x - y);
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))];
  }

  /** Lower is better: latency weighted by errors. A mirror never measured scores 0 (it is tried). */
  score(errorPenalty: number): number {
    return (
      (this.latencyMs ?? 0) * (1 + errorPenalty * this.errorRate) + errorPenalty * this.errorRate
    );
  }
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  failures: number;
  /** How long an open circuit stays open before one trial request may pass. */
  coolOffMs: number;
  now: () => number;
}

/**
 * A circuit breaker: `failures` consecutive failures open it; after
 * `coolOffMs` one trial (real traffic or a probe) may pass (half-open); its
 * success closes the circuit, its failure opens it for another cool-off.
 */
export class Breaker {
  private consecutive = 0;
  private openedAt: number | undefined;
  private trial = false;

  constructor(private readonly o: BreakerOptions) {}

  get state(): BreakerState {
    if (this.openedAt === undefined) return 'closed';
    return this.o.now() - this.openedAt >= this.o.coolOffMs ? 'half-open' : 'open';
  }

  /** True when a request may be sent now (half-open: only while no trial is out). */
  usable(): boolean {
    const s = this.state;
    return s === 'closed' || (s === 'half-open' && !this.trial);
  }

  /** A request is sent: in half-open state it is the one trial. */
  begin(): void {
    if (this.state === 'half-open') this.trial = true;
  }

  success(): void {
    this.consecutive = 0;
    this.openedAt = undefined;
    this.trial = false;
  }

  failure(): void {
    this.consecutive++;
    if (this.state === 'half-open' || this.consecutive >= this.o.failures) {
      this.openedAt = this.o.now();
    }
    this.trial = false;
  }

  /** The request ended without a verdict (aborted): a trial may be sent again. */
  release(): void {
    this.trial = false;
  }
}
