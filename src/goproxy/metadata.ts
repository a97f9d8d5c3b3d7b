/**
 * Mutable metadata (list, latest, query .info): cached with a TTL and served
 * stale, with a warning, when every upstream fails. Upstream bodies are capped
 * and validated before they are cached or passed on.
 *
 * | code                   | meaning                                                        |
 * |------------------------|----------------------------------------------------------------|
 * | UPSTREAM_BAD_RESPONSE  | a latest or query answer that is not .info JSON with a canonical Version (and an RFC 3339 Time when present) |
 * | UPSTREAM_TOO_LARGE     | a body over its cap                                            |
 */
import { ModgateError, asModgateError } from '../errors.js';
import type { BlobStore } from '../storage/types.js';
import { toUpstreamError, type UpstreamClient } from '../upstream/client.js';
import { SingleFlight } from '../upstream/singleflight.js';
import { canonicalVersion, type ProxyRequest } from './paths.js';
import { fetchFromRoute } from './source.js';
import type { Router } from './router.js';
import { metaKey } from './keys.js';

export interface MetaEntry {
  body: string;
  upstream: string;
  fetchedAt: number;
  /** 404 or 410 from upstream, remembered briefly like a body. */
  status: number;
}

export interface MetaResult extends MetaEntry {
  cache: 'hit' | 'miss' | 'stale';
  /** Set when served stale because every upstream failed. */
  staleReason?: string;
  /** Versions left out of a list because their facts could not be gathered within the request's budget. */
  hidden?: number;
}

type MetaRequest = Extract<ProxyRequest, { kind: 'list' | 'latest' | 'query' }>;

export class MetadataService {
  private readonly flights: SingleFlight<MetaResult>;

  constructor(
    private readonly d: {
      store: BlobStore;
      client: UpstreamClient;
      router: Router;
      ttlSeconds: { list: number; query: number };
      maxBytes: { list: number; info: number };
      /** The shared fetch's own deadline (the upstream client's small deadline, plus slack for the chain). */
      deadlineMs?: number;
    },
  ) {
    this.flights = new SingleFlight({
      ...(d.deadlineMs ? { deadlineMs: d.deadlineMs } : {}),
      what: 'metadata fetch',
    });
  }

  /** `signal` is the caller's lifetime: it stops waiting, the shared fetch goes on for others. */
  async get(req: MetaRequest, signal?: AbortSignal): Promise<MetaResult> {
    const key = metaKey(req.module, req.kind === 'query' ? { query: req.query } : req.kind);
    const cached = await this.read(key);
    const ttl = (req.kind === 'list' ? this.d.ttlSeconds.list : this.d.ttlSeconds.query) * 1000;
    if (cached && Date.now() - cached.fetchedAt < ttl) return { ...cached, cache: 'hit' };
    return this.flights.do(key, (shared) => this.refresh(req, key, cached, shared), {
      ...(signal ? { signal } : {}),
    });
  }

  /** Cancels shared fetches and waits for them. */
  close(): Promise<void> {
    return this.flights.close();
  }

  private async refresh(
    req: MetaRequest,
    key: string,
    cached: MetaEntry | null,
    signal: AbortSignal,
  ): Promise<MetaResult> {
    let entry: MetaEntry;
    try {
      entry = await this.fetch(req, signal);
    } catch (err) {
      const e = asModgateError(err);
      if (cached && e.code !== 'UPSTREAM_TOO_LARGE' && !signal.aborted)
        return { ...cached, cache: 'stale', staleReason: e.message };
      throw err;
    }
    await this.d.store.putBytes(key, JSON.stringify(entry));
    return { ...entry, cache: 'miss' };
  }

  private async fetch(req: MetaRequest, signal: AbortSignal): Promise<MetaEntry> {
    const route = this.d.router.route(req.module);
    const res = await fetchFromRoute(this.d.client, route, req, signal);
    const max = req.kind === 'list' ? this.d.maxBytes.list : this.d.maxBytes.info;
    const what = `${req.module} ${req.kind === 'query' ? `${req.query}.info` : req.kind}`;
    const body = await readCapped(res.body, max, what).catch((err: unknown) => {
      throw toUpstreamError(err, res.upstream);
    });
    const ok = res.status === 200;
    return {
      body: !ok ? '' : req.kind === 'list' ? cleanList(body) : checkInfo(body, what, res.upstream),
      upstream: res.upstream,
      fetchedAt: Date.now(),
      status: res.status,
    };
  }

  private async read(key: string): Promise<MetaEntry | null> {
    const raw = await this.d.store.getBytes(key);
    if (!raw) return null;
    try {
      return JSON.parse(raw.toString('utf8')) as MetaEntry;
    } catch {
      return null;
    }
  }
}

/**
 * An @v/list body reduced to its canonical versions, one per line, as the go
 * command reads it (modfetch's proxyRepo.Versions keeps the first field of a
 * line when it is valid semver and ignores the rest). Junk lines are dropped,
 * not passed on: extra fields, non-canonical or invalid versions, duplicates.
 */
export function cleanList(body: string): string {
  const seen = new Set<string>();
  for (const line of body.split('\n')) {
    const v = line.trim().split(/\s+/)[0];
    if (v && canonicalVersion(v) === v) seen.add(v);
  }
  return [...seen].map((v) => `${v}\n`).join('');
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** RFC 3339 date-time with in-range fields (Go's time.Parse(time.RFC3339) accepts these). */
export function isRfc3339(s: string): boolean {
  const m = RFC3339.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  const offOk = m[9] === undefined || (Number(m[9]) < 24 && Number(m[10]) < 60);
  return mo >= 1 && mo <= 12 && d >= 1 && d <= days && h < 24 && mi < 60 && sec < 60 && offOk;
}

/**
 * A latest or query answer: .info JSON whose Version is canonical and whose
 * Time, when present, is RFC 3339. Passed on re-serialised with only those
 * fields, so nothing else an upstream put there reaches clients.
 */
export function checkInfo(body: string, what: string, upstream: string): string {
  const bad = (why: string): ModgateError =>
    new ModgateError('UPSTREAM_BAD_RESPONSE', `upstream ${upstream} sent a bad ${what}: ${why}`, {
      upstream,
    });
  let info: unknown;
  try {
    info = JSON.parse(body);
  } catch {
    throw bad('not JSON');
  }
  if (!info || typeof info !== 'object' || Array.isArray(info)) throw bad('not a JSON object');
  const { Version, Time } = info as { Version?: unknown; Time?: unknown };
  if (typeof Version !== 'string' || canonicalVersion(Version) !== Version)
    throw bad(`Version ${JSON.stringify(Version)?.slice(0, 80)} is not a canonical version`);
  if (Time !== undefined && (typeof Time !== 'string' || !isRfc3339(Time)))
    throw bad(`Time ${JSON.stringify(Time)?.slice(0, 80)} is not an RFC 3339 time`);
  return JSON.stringify(Time === undefined ? { Version } : { Version, Time });
}

async function readCapped(body: AsyncIterable<Buffer>, max: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += chunk.length;
    if (n > max)
      throw new ModgateError('UPSTREAM_TOO_LARGE', `${what} exceeds the ${max}-byte limit`, {
        max,
      });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
