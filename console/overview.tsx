/** Overview: requests, allows, denials and errors over time (uPlot), and the gateway's health. */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { getJson } from './api.js';
import { message, Section, Status, Time } from './ui.js';

interface Bucket {
  start: string;
  requests: number;
  allow: number;
  deny: number;
  error: number;
}
interface Gateway {
  cache?: { hit: number; miss: number; stale: number; hitRate: number | null };
  upstreams?: {
    ok: boolean;
    detail: string;
    latency: Array<{ upstream: string; meanMs: number; count: number }>;
    lastOkAgoSeconds: number | null;
  };
  sumdb?: {
    name?: string;
    treeSize?: number;
    rootHash?: string;
    fork?: boolean;
    checkedAt: string;
    error?: string;
  } | null;
  vulndb?: { modified: string | null; entries: number; ageHours: number | null } | null;
}
interface OverviewData {
  from: string;
  to: string;
  buckets: Bucket[];
  gateway: Gateway;
}

function Chart({ buckets }: { buckets: Bucket[] }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const box = el.current;
    if (!box) return;
    const data: uPlot.AlignedData = [
      buckets.map((b) => Date.parse(b.start) / 1000),
      buckets.map((b) => b.requests),
      buckets.map((b) => b.allow),
      buckets.map((b) => b.deny),
      buckets.map((b) => b.error),
    ];
    const series = (label: string, stroke: string): uPlot.Series => ({ label, stroke, width: 2 });
    const plot = new uPlot(
      {
        width: Math.max(280, box.clientWidth),
        height: 260,
        series: [
          {},
          series('requests', '#1d4ed8'),
          series('allowed', '#15803d'),
          series('denied', '#b91c1c'),
          series('errors', '#a16207'),
        ],
        axes: [{}, { label: 'per bucket' }],
      },
      data,
      box,
    );
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(280, box.clientWidth), height: 260 }),
    );
    resize.observe(box);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [buckets]);
  return (
    <div
      ref={el}
      class="chart"
      role="img"
      aria-label="Requests, allowed, denied and errors over time"
    />
  );
}

export function Overview() {
  const [data, setData] = useState<OverviewData | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    getJson<OverviewData>('overview', { since: '30d', buckets: '60' }).then(setData, (e) =>
      setError(message(e)),
    );
  }, []);
  if (!data) return <Status error={error}>Loading the overview…</Status>;
  const g = data.gateway;
  const sum = (k: keyof Omit<Bucket, 'start'>) => data.buckets.reduce((n, b) => n + b[k], 0);
  return (
    <>
      <h1>Overview</h1>
      <p>
        From <Time iso={data.from} /> to <Time iso={data.to} />
      </p>
      <div class="stats">
        <div class="stat">
          <span>Requests</span>
          <strong data-stat="requests">{sum('requests')}</strong>
        </div>
        <div class="stat">
          <span>Allowed</span>
          <strong data-stat="allow">{sum('allow')}</strong>
        </div>
        <div class="stat">
          <span>Denied</span>
          <strong data-stat="deny">{sum('deny')}</strong>
        </div>
        <div class="stat">
          <span>Errors</span>
          <strong data-stat="error">{sum('error')}</strong>
        </div>
      </div>
      <Section title="Requests over time">
        <Chart buckets={data.buckets} />
      </Section>
      <div class="grid">
        <Section title="Cache">
          <p>
            Hit rate:{' '}
            {g.cache?.hitRate == null
              ? 'no requests yet'
              : `${(g.cache.hitRate * 100).toFixed(1)} %`}{' '}
            ({g.cache?.hit ?? 0} hits, {g.cache?.miss ?? 0} misses, {g.cache?.stale ?? 0} stale)
          </p>
        </Section>
        <Section title="Upstreams">
          <p>
            {g.upstreams?.ok ? 'Healthy' : 'Unhealthy'}: {g.upstreams?.detail}
          </p>
          {g.upstreams?.latency.map((l) => (
            <p>
              {l.upstream}: {l.meanMs.toFixed(1)} ms mean over {l.count}
            </p>
          ))}
        </Section>
        <Section title="Checksum database">
          {g.sumdb ? (
            g.sumdb.error ? (
              <p class="error">{g.sumdb.error}</p>
            ) : (
              <p>
                {g.sumdb.name}: tree size {g.sumdb.treeSize},{' '}
                {g.sumdb.fork ? 'FORK EVIDENCE RECORDED' : 'no fork'} (checked{' '}
                <Time iso={g.sumdb.checkedAt} />)
              </p>
            )
          ) : (
            <p>Not used (GOSUMDB off).</p>
          )}
        </Section>
        <Section title="Vulnerability database">
          {g.vulndb ? (
            <p>
              {g.vulndb.entries} entries, modified <Time iso={g.vulndb.modified} />
              {g.vulndb.ageHours != null ? ` (${g.vulndb.ageHours.toFixed(1)} h ago)` : ''}
            </p>
          ) : (
            <p>Off (vulndb.enabled: false).</p>
          )}
        </Section>
      </div>
    </>
  );
}
