/**
 * The start-up probe of each upstream and the health that /readyz reads: one
 * request per upstream, classified as reachable (any HTTP answer below 500
 * means TLS and the pins passed), pin failure, or unreachable. While every
 * upstream fails, modgate is not ready; a failing state is probed again,
 * at most once per `reprobeMs`, when readiness is asked.
 */
import { isModgateError } from '../errors.js';
import type { UpstreamClient } from './client.js';
import { redactUrl } from './url.js';

export type PinState =
  'pins matched' | 'unpinned' | 'plain http' | 'pin mismatch' | 'no pins' | 'unknown';

export interface ProbeResult {
  upstream: string;
  ok: boolean;
  pins: PinState;
  /** The HTTP status, when there was an answer. */
  status?: number;
  code?: string;
  /** First line of the failure, without credentials. */
  error?: string;
  ms: number;
}

export interface ProbeOptions {
  client: UpstreamClient;
  /** Configured upstream URLs (public chain and private routes), deduplicated by the caller or here. */
  upstreams: string[];
  /** The path asked (the checksum database's `supported`, as the go command asks, else "/"). */
  path: string;
  hasPins: (host: string) => boolean;
}

export async function probeUpstream(o: ProbeOptions, upstream: string): Promise<ProbeResult> {
  const started = performance.now();
  const shown = redactUrl(upstream);
  const u = new URL(upstream);
  const done = (r: Omit<ProbeResult, 'upstream' | 'ms'>): ProbeResult => ({
    upstream: shown,
    ms: Math.round(performance.now() - started),
    ...r,
  });
  const okPins: PinState =
    u.protocol === 'http:' ? 'plain http' : o.hasPins(u.hostname) ? 'pins matched' : 'unpinned';
  try {
    const res = await o.client.get(upstream, o.path);
    await res.body.dump().catch(() => undefined);
    return done({ ok: true, pins: okPins, status: res.status });
  } catch (err) {
    const code = isModgateError(err) ? err.code : 'UPSTREAM_UNAVAILABLE';
    const message = (err as Error).message.split('\n', 1)[0]!;
    const status = isModgateError(err) ? err.details.status : undefined;
    if (typeof status === 'number' && status < 500) return done({ ok: true, pins: okPins, status });
    if (code === 'UPSTREAM_REDIRECT') return done({ ok: true, pins: okPins, code });
    const pins: PinState =
      code === 'UPSTREAM_PIN_MISMATCH'
        ? 'pin mismatch'
        : code === 'UPSTREAM_UNPINNED'
          ? 'no pins'
          : 'unknown';
    return done({
      ok: false,
      pins,
      code,
      error: message,
      ...(typeof status === 'number' ? { status } : {}),
    });
  }
}

/** Probes every upstream once, concurrently. */
export function probeUpstreams(o: ProbeOptions): Promise<ProbeResult[]> {
  return Promise.all([...new Set(o.upstreams)].map((u) => probeUpstream(o, u)));
}

/** What /readyz reads: ready while at least one upstream passes its probe (or none is configured). */
export class UpstreamHealth {
  private results: ProbeResult[] = [];
  private at = 0;
  private running: Promise<ProbeResult[]> | undefined;

  constructor(
    private readonly o: ProbeOptions,
    private readonly reprobeMs = 15_000,
  ) {}

  get last(): ProbeResult[] {
    return this.results;
  }

  probe(): Promise<ProbeResult[]> {
    this.running ??= probeUpstreams(this.o)
      .then((r) => {
        this.results = r;
        this.at = Date.now();
        return r;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** Readiness: `ok` false while every upstream fails; re-probes a failing state now and then. */
  async check(): Promise<{ ok: boolean; detail: string }> {
    if (this.o.upstreams.length === 0) return { ok: true, detail: 'no upstream configured' };
    if (!this.healthy() && Date.now() - this.at >= this.reprobeMs) await this.probe();
    return { ok: this.healthy(), detail: describe(this.results) };
  }

  private healthy(): boolean {
    return this.results.some((r) => r.ok);
  }
}

/** "URL ok (pins matched)", "URL UPSTREAM_PIN_MISMATCH (pin mismatch)", joined with "; ". */
export function describe(results: ProbeResult[]): string {
  return results
    .map((r) => `${r.upstream} ${r.ok ? 'ok' : (r.code ?? 'failed')} (${r.pins})`)
    .join('; ');
}

export interface StartupSummary {
  url: string;
  upstreams: ProbeResult[];
  sumdb: string;
  policyRevision: string;
  storage: string;
}

/** The one line that says modgate serves, with the fields beside it for log processors. */
export function summaryLine(s: StartupSummary): string {
  const ups = s.upstreams.length ? describe(s.upstreams) : 'none';
  const failing = s.upstreams.filter((r) => !r.ok);
  const hint =
    failing.length && failing.length === s.upstreams.length
      ? ' NOT READY: every upstream fails (see docs/pins.md for pin mismatches)'
      : '';
  return `modgate serving on ${s.url}; upstreams: ${ups}; checksum database: ${s.sumdb}; policy: ${s.policyRevision}; storage: ${s.storage}${hint}`;
}
