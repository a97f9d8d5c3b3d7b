import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one gateway instance (its own registry, so tests can run several). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'modgate_requests_total',
    help: 'Requests by route kind and status',
    labelNames: ['kind', 'status'] as const,
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
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  /** Reports upstream fetches in flight at scrape time. */
  inflightSource: () => number = () => 0;
  readonly inflight: Gauge = new Gauge({
    name: 'modgate_inflight_fetches',
    help: 'Upstream artifact fetches in flight',
    registers: [this.registry],
    collect: (): void => this.inflight.set(this.inflightSource()),
  });
  /** Epoch ms of the last upstream answer (any status below 500). */
  lastUpstreamOk = 0;
  readonly security = new Counter({
    name: 'modgate_security_events_total',
    help: 'Security events (checksum mismatch, pin mismatch, sumdb fork, policy errors)',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'modgate_' });
  }

  served(kind: string, status: number, bytes: number, cache: string): void {
    this.requests.inc({ kind, status: String(status) });
    this.cache.inc({ kind, result: cache });
    if (bytes) this.bytes.inc({ kind }, bytes);
  }
}
