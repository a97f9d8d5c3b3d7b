import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { scrubUserinfo } from '../config/redact.js';

/** Per-request timings gathered while a request is served (see src/http/request-state.ts). */
export interface TimingSink {
  upstreamMs: number;
  verifyMs: number;
}

const MIRROR_STATES = ['closed', 'half-open', 'open', 'quarantined'] as const;
const SECONDS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Prometheus metrics of one gateway instance (its own registry, so tests can
 * run several). Every metric is listed in docs/operations.md; a test checks the
 * list against the /metrics output.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'modgate_requests_total',
    help: 'Answers by route kind, status and error code (code "none" for successes)',
    labelNames: ['kind', 'status', 'code'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'modgate_request_seconds',
    help: 'Time from request to the end of the answer, by route kind',
    labelNames: ['kind'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly cache = new Counter({
    name: 'modgate_cache_total',
    help: 'Cache results by kind (hit, miss, stale)',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: 'modgate_bytes_served_total',
    help: 'Bytes of module data served',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly upstreamLatency = new Histogram({
    name: 'modgate_upstream_seconds',
    help: 'Upstream response header latency',
    labelNames: ['upstream', 'status'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly verification = new Histogram({
    name: 'modgate_verification_seconds',
    help: 'Time spent verifying (zip rules, hashes, checksum database proofs), by kind',
    labelNames: ['kind'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  /** Reports upstream fetches in flight at scrape time. */
  inflightSource: () => number = () => 0;
  readonly inflight: Gauge = new Gauge({
    name: 'modgate_inflight_fetches',
    help: 'Cold artifact fetches (download and verification) in flight',
    registers: [this.registry],
    collect: (): void => this.inflight.set(this.inflightSource()),
  });
  /** Reports cold fetches waiting for a verification slot at scrape time. */
  queueSource: () => number = () => 0;
  readonly queue: Gauge = new Gauge({
    name: 'modgate_fetch_queue_length',
    help: 'Cold fetches waiting for a verification slot',
    registers: [this.registry],
    collect: (): void => this.queue.set(this.queueSource()),
  });
  /** Reports client requests being served at scrape time. */
  activeSource: () => number = () => 0;
  readonly active: Gauge = new Gauge({
    name: 'modgate_requests_in_flight',
    help: 'Client requests being served',
    registers: [this.registry],
    collect: (): void => this.active.set(this.activeSource()),
  });
  /** Reports the audit log's write counts at scrape time (undefined: no audit log). */
  auditSource: () => { records: number; batches: number; fsyncs: number } | undefined = () =>
    undefined;
  readonly auditWrites: Gauge<'what'> = new Gauge({
    name: 'modgate_audit_writes',
    help: 'Audit records written since start, the group commits that wrote them, and their fsyncs',
    labelNames: ['what'] as const,
    registers: [this.registry],
    collect: (): void => {
      const s = this.auditSource();
      if (!s) return;
      for (const what of ['records', 'batches', 'fsyncs'] as const)
        this.auditWrites.set({ what }, s[what]);
    },
  });
  readonly auditAggregated = new Counter({
    name: 'modgate_audit_aggregated_total',
    help: 'Answers recorded in aggregated audit records (beyond the per-client burst)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  /** Epoch ms of the last upstream answer (any status below 500). */
  lastUpstreamOk = 0;
  readonly security = new Counter({
    name: 'modgate_security_events_total',
    help: 'Security events (checksum mismatch, pin mismatch, sumdb fork, policy errors)',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  /** Reports the mirrors of every group of equivalent mirrors at scrape time (src/routing). */
  mirrorSource: () => Array<{ group: string; upstream: string; state: string; score: number }> =
    () => [];
  readonly mirrorScore: Gauge<'group' | 'upstream'> = new Gauge({
    name: 'modgate_mirror_score',
    help: 'Routing score of each mirror of a group (weighted latency in ms; lower is chosen first)',
    labelNames: ['group', 'upstream'] as const,
    registers: [this.registry],
    collect: (): void => {
      for (const m of this.mirrorSource())
        this.mirrorScore.set({ group: m.group, upstream: scrubUserinfo(m.upstream) }, m.score);
    },
  });
  readonly mirrorState: Gauge<'group' | 'upstream' | 'state'> = new Gauge({
    name: 'modgate_mirror_state',
    help: 'State of each mirror of a group: 1 for its current state (closed, half-open, open, quarantined)',
    labelNames: ['group', 'upstream', 'state'] as const,
    registers: [this.registry],
    collect: (): void => {
      for (const m of this.mirrorSource())
        for (const state of MIRROR_STATES)
          this.mirrorState.set(
            { group: m.group, upstream: scrubUserinfo(m.upstream), state },
            Number(m.state === state),
          );
    },
  });
  readonly mirrorServed = new Counter({
    name: 'modgate_mirror_served_total',
    help: 'Upstream answers of a group of equivalent mirrors by the mirror that served them (hedged: more than one was asked)',
    labelNames: ['group', 'upstream', 'hedged'] as const,
    registers: [this.registry],
  });
  /** Where the current request's timings go (set by the HTTP layer). */
  timings: () => TimingSink | undefined = () => undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'modgate_' });
    // Labels may carry upstream URLs: userinfo never reaches a label.
    const observe = this.upstreamLatency.observe.bind(this.upstreamLatency);
    this.upstreamLatency.observe = ((labels: Record<string, string | number>, value: number) => {
      const safe = { ...labels, upstream: scrubUserinfo(String(labels.upstream ?? '')) };
      observe(safe, value);
      const t = this.timings();
      if (t) t.upstreamMs += value * 1000;
    }) as typeof this.upstreamLatency.observe;
  }

  /** One upstream attempt of `seconds` (also added to the current request's upstream time). */
  observeUpstream(upstream: string, status: number | undefined, seconds: number): void {
    this.upstreamLatency.observe({ upstream, status: String(status ?? 'error') }, seconds);
  }

  /** Verification work of `seconds` for an artifact kind (also added to the current request). */
  observeVerification(kind: string, seconds: number): void {
    this.verification.observe({ kind }, seconds);
    const t = this.timings();
    if (t) t.verifyMs += seconds * 1000;
  }

  /** One answer: counted whatever its status. */
  answered(a: { kind: string; status: number; code?: string; seconds: number }): void {
    this.requests.inc({ kind: a.kind, status: String(a.status), code: a.code ?? 'none' });
    this.duration.observe({ kind: a.kind }, a.seconds);
  }

  /** Module data served: cache result and bytes. */
  served(kind: string, bytes: number, cache: string): void {
    this.cache.inc({ kind, result: cache });
    if (bytes) this.bytes.inc({ kind }, bytes);
  }
}
