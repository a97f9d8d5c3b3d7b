/**
 * Adaptive routing among equivalent mirrors. A chain is walked as GOPROXY
 * says, except that a group of equivalent mirrors inside it is asked in score
 * order, skipping open circuits and quarantined mirrors, with hedging. A
 * mirror is only ever chosen from the group the chain names: routing never
 * sends a request to an upstream outside the chain.
 */
import { ModgateError, isModgateError } from '../errors.js';
import { toUpstreamError, type UpstreamClient, type UpstreamResponse } from '../upstream/client.js';
import type { ProxyEntry } from '../upstream/proxy-list.js';
import { Mirror, MirrorGroup, type MirrorSnapshot, type ScoringOptions } from './group.js';
import { race } from './hedge.js';
import { findGroup, type GroupPlan } from './plan.js';
import { Prober } from './prober.js';

export interface RoutingOptions {
  client: UpstreamClient;
  groups: GroupPlan[];
  scoring: Omit<ScoringOptions, 'now'>;
  hedge: { enabled: boolean; minMs: number; maxMs: number };
  probe: { intervalMs: number; path: string };
  quarantineMs: number;
  now?: () => number;
  /** A request of a group was served by `upstream` (hedged: more than one mirror was asked). */
  onServed?: (group: string, upstream: string, hedged: boolean) => void;
  /** A mirror was quarantined: alarm (metric, log, audit security record). */
  onQuarantine?: (details: QuarantineDetails) => Promise<void>;
}

/** The mirror, its groups, the end of its quarantine, and the artifact (kind, module, version, code). */
export interface QuarantineDetails extends Record<string, unknown> {
  upstream: string;
  groups: string[];
  until: string;
}

type Segment = { entry: ProxyEntry } | { group: MirrorGroup; fallBackOnError: boolean };

export class MirrorRouting {
  readonly groups: MirrorGroup[];
  private readonly plans = new WeakMap<readonly ProxyEntry[], Segment[]>();
  private readonly prober: Prober;
  private readonly now: () => number;

  constructor(private readonly o: RoutingOptions) {
    this.now = o.now ?? Date.now;
    const mirrors = new Map<string, Mirror>();
    const scoring = { ...o.scoring, now: this.now };
    const mirror = (url: string): Mirror => {
      let m = mirrors.get(url);
      if (!m) mirrors.set(url, (m = new Mirror(url, scoring)));
      return m;
    };
    this.groups = o.groups.map((g) => new MirrorGroup(g.name, g.members.map(mirror)));
    this.prober = new Prober(o.client, [...mirrors.values()], o.probe);
  }

  /** Starts the background probes (a tracked timer, stopped by close). */
  start(): this {
    this.prober.start();
    return this;
  }

  /** One probe round of every mirror now (start-up, tests). */
  probeAll(): Promise<void> {
    return this.prober.round();
  }

  close(): Promise<void> {
    return this.prober.close();
  }

  snapshot(): MirrorSnapshot[] {
    return this.groups.flatMap((g) => g.snapshot());
  }

  /** The /readyz line: each group's choice and each mirror's state. */
  describe(): string {
    return this.groups
      .map((g) => {
        const best = g.order()[0];
        const states = g.snapshot().map((s) => `${s.upstream} ${s.state}`);
        return `${g.name}: ${best ? `serving from ${best.shown}` : 'no mirror usable'} (${states.join(', ')})`;
      })
      .join('; ');
  }

  /** Walks a chain: GOPROXY fallback rules, groups of equivalent mirrors by score. */
  async get(
    chain: readonly ProxyEntry[],
    path: string,
    signal?: AbortSignal,
  ): Promise<UpstreamResponse> {
    if (chain.length === 0)
      throw new ModgateError('UPSTREAM_NONE', 'no upstream is configured for this module');
    let notFound: UpstreamResponse | undefined;
    let lastErr: ModgateError | undefined;
    for (const seg of this.plan(chain)) {
      const fallBack = 'entry' in seg ? seg.entry.fallBackOnError : seg.fallBackOnError;
      try {
        const res =
          'entry' in seg
            ? await this.o.client.get(seg.entry.url, path, signal)
            : await this.fromGroup(seg.group, path, signal ?? new AbortController().signal);
        if (res.status === 404 || res.status === 410) {
          notFound = res;
          lastErr = undefined;
          continue;
        }
        return res;
      } catch (err) {
        const e = toUpstreamError(err, 'entry' in seg ? seg.entry.url : seg.group.name);
        if (!fallBack || isModgateError(e, 'REQUEST_INVALID') || signal?.aborted) throw e;
        lastErr = e;
      }
    }
    if (lastErr) throw lastErr;
    return notFound!;
  }

  /**
   * A mirror served bytes that failed verification: it is quarantined in every
   * group that holds it and alarmed. True when a group still has another usable
   * mirror, so that the request may be tried again elsewhere.
   */
  async tampered(upstream: string, reason: Record<string, unknown>): Promise<boolean> {
    const groups = this.groups.filter((g) => g.has(upstream));
    const bad = groups.flatMap((g) =>
      g.members.filter((m) => m.shown === upstream || m.url === upstream),
    );
    if (bad.length === 0) return false;
    const until = this.now() + this.o.quarantineMs;
    for (const m of bad) m.quarantinedUntil = until;
    await this.o.onQuarantine?.({
      ...reason,
      upstream: bad[0]!.shown,
      groups: groups.map((g) => g.name),
      until: new Date(until).toISOString(),
    });
    return groups.some((g) => g.order().length > 0);
  }

  private async fromGroup(
    group: MirrorGroup,
    path: string,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    const h = this.o.hedge;
    const { res, winner, hedged } = await race({
      order: group.order(),
      send: (m, s) => this.o.client.get(m.url, path, s),
      ...(h.enabled
        ? { hedgeMs: (m: Mirror) => Math.min(h.maxMs, Math.max(h.minMs, m.stats.p95() ?? h.maxMs)) }
        : {}),
      signal,
    });
    this.o.onServed?.(group.name, winner.shown, hedged);
    return res;
  }

  private plan(chain: readonly ProxyEntry[]): Segment[] {
    const known = this.plans.get(chain);
    if (known) return known;
    const segs: Segment[] = [];
    for (let i = 0; i < chain.length;) {
      const g = this.groups.find(
        (x) =>
          findGroup(
            chain.slice(i),
            x.members.map((m) => m.url),
          ) === 0,
      );
      if (g) {
        segs.push({ group: g, fallBackOnError: chain[i + g.members.length - 1]!.fallBackOnError });
        i += g.members.length;
      } else segs.push({ entry: chain[i++]! });
    }
    this.plans.set(chain, segs);
    return segs;
  }
}
