import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { ModgateError, isModgateError } from '../errors.js';
import type { ProxyEntry } from './proxy-list.js';

export interface UpstreamOptions {
  dispatcher?: Dispatcher;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  retries: number;
  retryBaseMs: number;
  /** Authorization header value for a URL, or undefined. Never logged. */
  authFor?: (url: string) => string | undefined;
  onAttempt?: (e: {
    upstream: string;
    path: string;
    status?: number;
    ms: number;
    error?: string;
  }) => void;
}

export interface UpstreamResponse {
  upstream: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const MAX_REDIRECTS = 5;

/** An HTTP client for GOPROXY upstreams: keep-alive pools, timeouts, bounded retries. */
export class UpstreamClient {
  readonly dispatcher: Dispatcher;

  constructor(private readonly opts: UpstreamOptions) {
    this.dispatcher = opts.dispatcher ?? new Agent({ keepAliveTimeout: 30_000 });
  }

  /**
   * GETs base+path from one upstream. Returns 2xx, 404 and 410 responses (the
   * latter two with their body dumped); throws ModgateError for anything else.
   */
  async get(base: string, path: string, signal?: AbortSignal): Promise<UpstreamResponse> {
    let lastErr: ModgateError | undefined;
    for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
      if (attempt > 0) await sleep(this.backoff(attempt, lastErr), undefined, { signal });
      try {
        return await this.once(base, path, signal);
      } catch (err) {
        lastErr = toUpstreamError(err, base);
        if (!('retryable' in lastErr.details && lastErr.details.retryable) || signal?.aborted)
          throw lastErr;
      }
    }
    throw lastErr!;
  }

  private backoff(attempt: number, err?: ModgateError): number {
    const after = Number(
      err && 'retryAfterSeconds' in err.details ? err.details.retryAfterSeconds : undefined,
    );
    if (Number.isFinite(after) && after > 0) return Math.min(after * 1000, 5000);
    return this.opts.retryBaseMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
  }

  private async once(base: string, path: string, signal?: AbortSignal): Promise<UpstreamResponse> {
    let url = base + path;
    const started = performance.now();
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const auth = this.opts.authFor?.(url);
      const res = await request(url, {
        dispatcher: this.dispatcher,
        method: 'GET',
        headers: auth
          ? { authorization: auth, 'user-agent': 'modgate' }
          : { 'user-agent': 'modgate' },
        headersTimeout: this.opts.headersTimeoutMs,
        bodyTimeout: this.opts.bodyTimeoutMs,
        signal,
      });
      this.opts.onAttempt?.({
        upstream: base,
        path,
        status: res.statusCode,
        ms: performance.now() - started,
      });
      const location = res.headers.location;
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
        await res.body.dump();
        url = new URL(location, url).toString();
        continue;
      }
      if (res.statusCode >= 200 && res.statusCode < 300)
        return { upstream: base, status: res.statusCode, headers: res.headers, body: res.body };
      const text = await res.body.text().catch(() => '');
      if (res.statusCode === 404 || res.statusCode === 410)
        return { upstream: base, status: res.statusCode, headers: res.headers, body: res.body };
      throw new ModgateError(
        'UPSTREAM_BAD_STATUS',
        `${base} answered ${res.statusCode} for ${path}: ${firstLine(text)}`,
        {
          status: res.statusCode,
          upstream: base,
          retryable: RETRY_STATUS.has(res.statusCode),
          retryAfterSeconds: res.headers['retry-after'],
        },
      );
    }
    throw new ModgateError('UPSTREAM_BAD_STATUS', `${base}: too many redirects for ${path}`, {
      upstream: base,
    });
  }
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0]!.slice(0, 200);
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** Maps network and undici errors to ModgateError, keeping pin and other coded errors. */
export function toUpstreamError(err: unknown, upstream: string): ModgateError {
  if (isModgateError(err)) return err;
  const cause = (err as { cause?: unknown }).cause;
  if (isModgateError(cause)) return cause;
  const code = String((err as NodeJS.ErrnoException).code ?? '');
  const timeout = code.includes('TIMEOUT') || code === 'ETIMEDOUT';
  return new ModgateError(
    timeout ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE',
    `${upstream}: ${(err as Error).message}${code ? ` (${code})` : ''}`,
    { upstream, retryable: RETRYABLE_CODES.has(code) },
    { cause: err },
  );
}

/**
 * Walks a GOPROXY chain: after ',' fall through only on 404/410, after '|' on
 * any error. Returns the first 2xx, or the last 404/410 when every entry said so.
 */
export async function getFromChain(
  client: UpstreamClient,
  chain: ProxyEntry[],
  path: string,
  signal?: AbortSignal,
): Promise<UpstreamResponse> {
  if (chain.length === 0)
    throw new ModgateError('UPSTREAM_NONE', 'no upstream is configured for this module');
  let notFound: UpstreamResponse | undefined;
  let lastErr: ModgateError | undefined;
  for (const entry of chain) {
    try {
      const res = await client.get(entry.url, path, signal);
      if (res.status === 404 || res.status === 410) {
        notFound = res;
        lastErr = undefined;
        continue;
      }
      return res;
    } catch (err) {
      const e = toUpstreamError(err, entry.url);
      if (!entry.fallBackOnError) throw e;
      lastErr = e;
    }
  }
  if (lastErr) throw lastErr;
  return notFound!;
}
