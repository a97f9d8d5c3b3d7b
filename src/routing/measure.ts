/**
 * `modgate upstreams probe`: measures each upstream from where modgate runs,
 * over the pinned client. Per upstream: connection setup (TCP and TLS, from
 * undici's diagnostics channel), time to first byte over N samples, error
 * rate, throughput on one zip of known size, `@v/list` freshness of sample
 * modules compared between the upstreams, and whether the `/sumdb/` relay
 * answers.
 */
import { createHash } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { asModgateError } from '../errors.js';
import { escapePath, escapeVersion } from '../integrity/module.js';
import { canonical, compare } from '../integrity/semver.js';
import type { UpstreamClient } from '../upstream/client.js';
import { redactUrl } from '../upstream/url.js';

/** Small, long-lived modules every public mirror carries. */
export const DEFAULT_SAMPLE_MODULES = [
  'golang.org/x/mod',
  'golang.org/x/text',
  'golang.org/x/sync',
];

export interface UpstreamMeasure {
  upstream: string;
  connectMs: number | null;
  ttfbMs: { median: number | null; p95: number | null };
  samples: number;
  errors: number;
  errorRate: number;
  firstError?: string;
  zip: {
    module: string;
    version: string;
    bytes: number;
    bytesPerSecond: number;
    sha256: string;
  } | null;
  /** Per sample module: versions listed, and those other upstreams list but this one does not. */
  lists: Record<string, { versions: number; missing: string[] } | null>;
  sumdb: { name: string; supported: boolean; status?: number; code?: string } | null;
}

export interface MeasureOptions {
  client: UpstreamClient;
  upstreams: string[];
  modules: string[];
  samples: number;
  sumdbName: string | null;
  onStep?: (what: string) => void;
}

const median = (xs: number[]): number | null => quantile(xs, 0.5);

function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(s.length * q))]!);
}

/** Connection setup times by origin, from undici's own events, while `fn` runs. */
async function watchConnects<T>(fn: (connects: Map<string, number>) => Promise<T>): Promise<T> {
  // undici publishes a fresh connectParams object on each channel, so the
  // start of a connection is keyed by its origin (the first one counts).
  const started = new Map<string, number>();
  const connects = new Map<string, number>();
  const originOf = (m: unknown): string => {
    const p = (m as { connectParams: { protocol: string; hostname: string; port: string } })
      .connectParams;
    return `${p.protocol}//${p.hostname}${p.port ? `:${p.port}` : ''}`;
  };
  const before = (m: unknown): void => {
    const origin = originOf(m);
    if (!started.has(origin)) started.set(origin, performance.now());
  };
  const after = (m: unknown): void => {
    const origin = originOf(m);
    const t0 = started.get(origin);
    if (t0 !== undefined && !connects.has(origin)) connects.set(origin, performance.now() - t0);
  };
  diagnostics.subscribe('undici:client:beforeConnect', before);
  diagnostics.subscribe('undici:client:connected', after);
  try {
    return await fn(connects);
  } finally {
    diagnostics.unsubscribe('undici:client:beforeConnect', before);
    diagnostics.unsubscribe('undici:client:connected', after);
  }
}

async function timed(client: UpstreamClient, base: string, path: string) {
  const t0 = performance.now();
  const res = await client.get(base, path);
  const ttfb = performance.now() - t0;
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.status, ttfb, body, ms: performance.now() - t0 };
}

async function listOf(client: UpstreamClient, base: string, mod: string): Promise<string[] | null> {
  try {
    const r = await timed(client, base, `/${escapePath(mod)}/@v/list`);
    if (r.status !== 200) return null;
    return [
      ...new Set(
        r.body
          .toString('utf8')
          .split('\n')
          .map((l) => l.trim().split(/\s+/)[0] ?? ''),
      ),
    ]
      .filter((v) => v !== '' && canonical(v) === v)
      .sort(compare);
  } catch {
    return null;
  }
}

export async function measureUpstreams(o: MeasureOptions): Promise<UpstreamMeasure[]> {
  return watchConnects(async (connects) => {
    const out: UpstreamMeasure[] = [];
    const lists = new Map<string, Map<string, string[] | null>>();
    for (const up of o.upstreams) {
      o.onStep?.(`${redactUrl(up)}: time to first byte`);
      const m = await sample(o, up);
      const mine = new Map<string, string[] | null>();
      for (const mod of o.modules) {
        o.onStep?.(`${redactUrl(up)}: ${mod} list`);
        mine.set(mod, await listOf(o.client, up, mod));
      }
      lists.set(up, mine);
      m.connectMs = connectOf(connects, up);
      out.push(m);
    }
    const zip = pickZip(o.modules, lists);
    for (const [i, up] of o.upstreams.entries()) {
      const m = out[i]!;
      m.lists = freshness(o.modules, lists, up);
      if (zip) {
        o.onStep?.(`${m.upstream}: zip throughput`);
        m.zip = await throughput(o.client, up, zip.module, zip.version);
      }
      o.onStep?.(`${m.upstream}: checksum database relay`);
      m.sumdb = o.sumdbName ? await sumdbRelay(o.client, up, o.sumdbName) : null;
    }
    return out;
  });
}

function connectOf(connects: Map<string, number>, up: string): number | null {
  const ms = connects.get(new URL(up).origin);
  return ms === undefined ? null : Math.round(ms);
}

async function sample(o: MeasureOptions, up: string): Promise<UpstreamMeasure> {
  const ttfb: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  for (let i = 0; i < o.samples; i++) {
    const mod = o.modules[i % o.modules.length]!;
    try {
      ttfb.push((await timed(o.client, up, `/${escapePath(mod)}/@v/list`)).ttfb);
    } catch (err) {
      errors++;
      const e = asModgateError(err);
      firstError ??= `${e.code}: ${e.message.split('\n', 1)[0]}`;
    }
  }
  return {
    upstream: redactUrl(up),
    connectMs: null,
    ttfbMs: { median: median(ttfb), p95: quantile(ttfb, 0.95) },
    samples: o.samples,
    errors,
    errorRate: o.samples ? errors / o.samples : 0,
    ...(firstError ? { firstError } : {}),
    zip: null,
    lists: {},
    sumdb: null,
  };
}

/** The newest version of the first sample module that every listing upstream has. */
function pickZip(modules: string[], lists: Map<string, Map<string, string[] | null>>) {
  for (const mod of modules) {
    const sets = [...lists.values()]
      .map((l) => l.get(mod))
      .filter((l): l is string[] => !!l?.length);
    if (sets.length === 0) continue;
    const common = sets[0]!.filter((v) => sets.every((s) => s.includes(v)));
    const version = common.at(-1);
    if (version) return { module: mod, version };
  }
  return null;
}

function freshness(
  modules: string[],
  lists: Map<string, Map<string, string[] | null>>,
  up: string,
) {
  const out: UpstreamMeasure['lists'] = {};
  for (const mod of modules) {
    const mine = lists.get(up)?.get(mod);
    if (!mine) {
      out[mod] = null;
      continue;
    }
    const all = new Set([...lists.values()].flatMap((l) => l.get(mod) ?? []));
    out[mod] = {
      versions: mine.length,
      missing: [...all].filter((v) => !mine.includes(v)).sort(compare),
    };
  }
  return out;
}

async function throughput(client: UpstreamClient, up: string, mod: string, version: string) {
  try {
    const r = await timed(client, up, `/${escapePath(mod)}/@v/${escapeVersion(version)}.zip`);
    if (r.status !== 200) return null;
    const secs = Math.max(r.ms - r.ttfb, 1) / 1000;
    return {
      module: mod,
      version,
      bytes: r.body.length,
      bytesPerSecond: Math.round(r.body.length / secs),
      sha256: createHash('sha256').update(r.body).digest('hex'),
    };
  } catch {
    return null;
  }
}

async function sumdbRelay(client: UpstreamClient, up: string, name: string) {
  try {
    const res = await client.get(up, `/sumdb/${name}/supported`);
    await res.body.dump().catch(() => undefined);
    return { name, supported: res.status === 200, status: res.status };
  } catch (err) {
    const e = asModgateError(err);
    const status = e.details.status;
    return {
      name,
      supported: false,
      code: e.code,
      ...(typeof status === 'number' ? { status } : {}),
    };
  }
}

/** Healthy upstreams, best first: fewest errors, then missing versions, then time to first byte. */
export function rank(ms: UpstreamMeasure[]): UpstreamMeasure[] {
  const missing = (m: UpstreamMeasure) =>
    Object.values(m.lists).reduce((n, l) => n + (l ? l.missing.length : 1), 0);
  return ms
    .filter((m) => m.errorRate < 0.5 && m.ttfbMs.median !== null)
    .sort(
      (a, b) =>
        a.errorRate - b.errorRate || missing(a) - missing(b) || a.ttfbMs.median! - b.ttfbMs.median!,
    );
}
