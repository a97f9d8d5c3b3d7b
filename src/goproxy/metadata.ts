import { ModgateError, asModgateError } from '../errors.js';
import type { BlobStore } from '../storage/types.js';
import { getFromChain, toUpstreamError, type UpstreamClient } from '../upstream/client.js';
import { SingleFlight } from '../upstream/singleflight.js';
import { upstreamPath, type ProxyRequest } from './paths.js';
import type { Router } from './router.js';
import { metaKey } from './keys.js';
import { raceSignal, type TaskSet } from './tasks.js';

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

/**
 * Mutable metadata (list, latest, query .info): cached with a TTL and served
 * stale, with a warning, when every upstream fails.
 */
export class MetadataService {
  private readonly flights = new SingleFlight<MetaResult>();

  constructor(
    private readonly d: {
      store: BlobStore;
      client: UpstreamClient;
      router: Router;
      ttlSeconds: { list: number; query: number };
      maxBytes: { list: number; info: number };
      /** Refreshes run as tracked tasks, so that close() aborts and awaits them. */
      tasks?: TaskSet;
    },
  ) {}

  /** `signal` is the caller's lifetime: the caller stops waiting when it aborts. */
  async get(req: MetaRequest, signal?: AbortSignal): Promise<MetaResult> {
    const key = metaKey(req.module, req.kind === 'query' ? { query: req.query } : req.kind);
    const cached = await this.read(key);
    const ttl = (req.kind === 'list' ? this.d.ttlSeconds.list : this.d.ttlSeconds.query) * 1000;
    if (cached && Date.now() - cached.fetchedAt < ttl) return { ...cached, cache: 'hit' };
    return raceSignal(
      this.flights.do(key, () =>
        this.d.tasks
          ? this.d.tasks.run((stop) => this.refresh(req, key, cached, stop))
          : this.refresh(req, key, cached),
      ),
      signal,
    );
  }

  private async refresh(
    req: MetaRequest,
    key: string,
    cached: MetaEntry | null,
    stop?: AbortSignal,
  ): Promise<MetaResult> {
    let entry: MetaEntry;
    try {
      entry = await this.fetch(req, stop);
    } catch (err) {
      const e = asModgateError(err);
      if (cached && e.code !== 'UPSTREAM_TOO_LARGE')
        return { ...cached, cache: 'stale', staleReason: e.message };
      throw err;
    }
    await this.d.store.putBytes(key, JSON.stringify(entry));
    return { ...entry, cache: 'miss' };
  }

  private async fetch(req: MetaRequest, stop?: AbortSignal): Promise<MetaEntry> {
    const route = this.d.router.route(req.module);
    const res = await getFromChain(this.d.client, route.chain, upstreamPath(req), stop);
    const max = req.kind === 'list' ? this.d.maxBytes.list : this.d.maxBytes.info;
    const body = await readCapped(res.body, max, `${req.module} ${req.kind}`).catch(
      (err: unknown) => {
        throw toUpstreamError(err, res.upstream);
      },
    );
    return {
      body: res.status === 200 ? body : '',
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
