/**
 * The gateway's health for the console's overview, gathered from the parts
 * the composition root holds: cache results and upstream latency from the
 * metrics, upstream health from the probe and routing, the checksum
 * database's head and fork check, the vulnerability database's freshness.
 */
import type { SumdbClient } from './integrity/sumdb/client.js';
import type { Metrics } from './observability/metrics.js';
import type { MirrorRouting } from './routing/routing.js';
import type { UpstreamHealth } from './upstream/probe.js';
import type { VulnService } from './vuln/service.js';

export interface StatusParts {
  metrics: Metrics;
  health: UpstreamHealth;
  routing: MirrorRouting;
  vulndb?: VulnService | undefined;
  sumdb?: SumdbClient | undefined;
}

export async function consoleStatus(p: StatusParts): Promise<Record<string, unknown>> {
  const cache = { hit: 0, miss: 0, stale: 0 };
  for (const v of (await p.metrics.cache.get()).values) {
    const r = String(v.labels.result) as keyof typeof cache;
    if (r in cache) cache[r] += v.value;
  }
  const total = cache.hit + cache.miss + cache.stale;
  const latency = new Map<string, { sum: number; count: number }>();
  for (const v of (await p.metrics.upstreamLatency.get()).values) {
    const up = String(v.labels.upstream ?? '');
    const l = latency.get(up) ?? { sum: 0, count: 0 };
    if (v.metricName?.endsWith('_sum')) l.sum += v.value;
    else if (v.metricName?.endsWith('_count')) l.count += v.value;
    latency.set(up, l);
  }
  const health = await p.health.check();
  const checked = new Date().toISOString();
  const sumdb = p.sumdb
    ? await p.sumdb.status().then(
        (s) => ({ ...s, checkedAt: checked }),
        (err: unknown) => ({ error: (err as Error).message, checkedAt: checked }),
      )
    : null;
  const snap = p.vulndb?.snapshot;
  return {
    cache: { ...cache, hitRate: total > 0 ? cache.hit / total : null },
    upstreams: {
      ok: health.ok,
      detail: health.detail,
      latency: [...latency.entries()]
        .filter(([, l]) => l.count > 0)
        .map(([upstream, l]) => ({ upstream, meanMs: (l.sum / l.count) * 1000, count: l.count })),
      mirrors: p.routing.snapshot(),
      lastOkAgoSeconds: p.metrics.lastUpstreamOk
        ? Math.round((Date.now() - p.metrics.lastUpstreamOk) / 1000)
        : null,
    },
    sumdb,
    vulndb: p.vulndb
      ? {
          modified: snap?.modified ?? null,
          entries: snap?.entries.length ?? 0,
          ageHours: snap ? (Date.now() - Date.parse(snap.modified)) / 3_600_000 : null,
        }
      : null,
  };
}
