/**
 * The HTTP client for GOPROXY upstreams: keep-alive pools (the pinned
 * dispatcher), a total deadline per request, bounded retries, credentials by
 * exact origin, and redirects only where the upstream's config allows them.
 *
 * | code                 | meaning                                                          |
 * |----------------------|------------------------------------------------------------------|
 * | UPSTREAM_BAD_STATUS  | the upstream answered a status other than 2xx, 404 or 410        |
 * | UPSTREAM_TIMEOUT     | headers plus body did not arrive within the total deadline       |
 * | UPSTREAM_UNAVAILABLE | the connection failed                                            |
 * | UPSTREAM_REDIRECT    | a redirect the config does not allow (see redirects.ts)          |
 * | UPSTREAM_NONE        | no upstream is configured for the module                         |
 * | SHUTTING_DOWN        | close() aborted the request                                      |
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { ModgateError, isModgateError } from '../errors.js';
import type { CredentialMatcher } from './credentials.js';
import type { ProxyEntry } from './proxy-list.js';
import {
  checkRedirect,
  systemAddresses,
  type AddressPolicy,
  type RedirectRule,
} from './redirects.js';
import { buildUpstreamUrl, redactUrl } from './url.js';
import { pinMismatchText } from '../tls/pins.js';

export interface Deadlines {
  /** Headers plus body of anything but a zip, and the headers of a zip. */
  smallMs: number;
  /** A zip's body must finish within zipBaseMs + size / zipMinBytesPerSecond. */
  zipBaseMs: number;
  zipMinBytesPerSecond: number;
  /** The size assumed when a zip answer has no Content-Length (the zip limit). */
  zipMaxBytes: number;
}

export const DEFAULT_DEADLINES: Deadlines = {
  smallMs: 10_000,
  zipBaseMs: 10_000,
  zipMinBytesPerSecond: 1 << 20,
  zipMaxBytes: 500 * 1024 * 1024,
};

export interface UpstreamOptions {
  dispatcher?: Dispatcher;
  /** undici's idle timers, inside the total deadline. */
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  retries: number;
  retryBaseMs: number;
  deadlines?: Partial<Deadlines>;
  /** Authorization header value for a URL (exact origin + path prefix). Never logged. */
  credentials?: CredentialMatcher;
  /** Redirect rule per configured upstream URL; default none. */
  redirects?: (upstream: string) => RedirectRule;
  /** How hostnames resolve and which addresses count as private (tests replace it). */
  addresses?: AddressPolicy;
  onAttempt?: (e: { upstream: string; path: string; status?: number; ms: number }) => void;
}

export interface UpstreamResponse {
  /** The configured upstream, without userinfo. */
  upstream: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const MAX_REDIRECTS = 5;

export class UpstreamClient {
  readonly dispatcher: Dispatcher;
  private readonly deadlines: Deadlines;
  private readonly inflight = new Set<{ ctl: AbortController; done: Promise<void> }>();
  private closed = false;

  constructor(private readonly opts: UpstreamOptions) {
    this.dispatcher = opts.dispatcher ?? new Agent({ keepAliveTimeout: 30_000 });
    this.deadlines = { ...DEFAULT_DEADLINES, ...opts.deadlines };
  }

  /** Requests in flight, bodies included. */
  get active(): number {
    return this.inflight.size;
  }

  /**
   * GETs base+path from one upstream. Returns 2xx, 404 and 410 responses;
   * throws ModgateError for anything else. `signal` is the caller's lifetime:
   * when it aborts, so does the request, with the signal's reason.
   */
  async get(base: string, path: string, signal?: AbortSignal): Promise<UpstreamResponse> {
    let lastErr: ModgateError | undefined;
    for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
      if (attempt > 0) await this.pause(this.backoff(attempt, lastErr), signal);
      try {
        return await this.once(base, path, signal);
      } catch (err) {
        lastErr = signal?.aborted
          ? toUpstreamError(signal.reason, base)
          : toUpstreamError(err, base);
        if (!lastErr.details.retryable || signal?.aborted || this.closed) throw lastErr;
      }
    }
    throw lastErr!;
  }

  /** Aborts every request in flight (bodies included) and resolves once all have let go. */
  async close(): Promise<void> {
    this.closed = true;
    const reason = new ModgateError('SHUTTING_DOWN', 'modgate is shutting down');
    const all = [...this.inflight];
    for (const r of all) r.ctl.abort(reason);
    await Promise.all(all.map((r) => r.done));
  }

  private async pause(ms: number, signal?: AbortSignal): Promise<void> {
    try {
      await sleep(ms, undefined, signal ? { signal } : {});
    } catch {
      throw signal?.reason ?? new ModgateError('CLIENT_GONE', 'the client went away');
    }
  }

  private backoff(attempt: number, err?: ModgateError): number {
    const after = Number(err?.details.retryAfterSeconds);
    if (Number.isFinite(after) && after > 0) return Math.min(after * 1000, 5000);
    return this.opts.retryBaseMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
  }

  private async once(base: string, path: string, signal?: AbortSignal): Promise<UpstreamResponse> {
    if (this.closed) throw new ModgateError('SHUTTING_DOWN', 'modgate is shutting down');
    const first = buildUpstreamUrl(base, path);
    const shown = redactUrl(base);
    const ctl = new AbortController();
    const started = performance.now();
    let release!: () => void;
    const entry = { ctl, done: new Promise<void>((r) => (release = r)) };
    this.inflight.add(entry);
    const timer = new DeadlineTimer(ctl, shown, path);
    const finish = (): void => {
      timer.clear();
      this.inflight.delete(entry);
      release();
    };
    timer.set(this.deadlines.smallMs);
    const combined = signal ? AbortSignal.any([signal, ctl.signal]) : ctl.signal;
    try {
      const res = await this.follow(first, base, path, combined);
      if (path.endsWith('.zip'))
        timer.set(this.zipDeadline(res.headers) - (performance.now() - started));
      this.opts.onAttempt?.({
        upstream: shown,
        path,
        status: res.statusCode,
        ms: performance.now() - started,
      });
      if (res.statusCode >= 200 && res.statusCode < 300) {
        res.body.once('close', finish);
        return { upstream: shown, status: res.statusCode, headers: res.headers, body: res.body };
      }
      const text = await res.body.text().catch(() => '');
      finish();
      if (res.statusCode === 404 || res.statusCode === 410)
        return { upstream: shown, status: res.statusCode, headers: res.headers, body: res.body };
      throw new ModgateError(
        'UPSTREAM_BAD_STATUS',
        `upstream ${shown} answered ${res.statusCode} for ${path}${text ? `: ${firstLine(text)}` : ''}`,
        {
          status: res.statusCode,
          upstream: shown,
          retryable: RETRY_STATUS.has(res.statusCode),
          retryAfterSeconds: res.headers['retry-after'],
        },
      );
    } catch (err) {
      finish();
      if (combined.aborted) throw toUpstreamError(combined.reason, shown);
      throw withPinAdvice(toUpstreamError(err, shown), first);
    }
  }

  private zipDeadline(headers: Record<string, string | string[] | undefined>): number {
    const d = this.deadlines;
    const len = Number(headers['content-length']);
    const size = Number.isFinite(len) && len >= 0 ? Math.min(len, d.zipMaxBytes) : d.zipMaxBytes;
    return d.zipBaseMs + (size / d.zipMinBytesPerSecond) * 1000;
  }

  /** One request, following only the redirects the upstream's rule allows. */
  private async follow(
    first: URL,
    base: string,
    path: string,
    signal: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    const rule = this.opts.redirects?.(base) ?? 'none';
    let url = first;
    for (let hop = 0; ; hop++) {
      const res = await request(stripUserinfo(url), {
        dispatcher: this.dispatcher,
        method: 'GET',
        headers: this.headersFor(url, first),
        headersTimeout: this.opts.headersTimeoutMs,
        bodyTimeout: this.opts.bodyTimeoutMs,
        signal,
      });
      if (res.statusCode < 300 || res.statusCode >= 400) return res;
      await res.body.dump().catch(() => undefined);
      const location = res.headers.location;
      if (typeof location !== 'string')
        throw new ModgateError(
          'UPSTREAM_BAD_STATUS',
          `upstream ${redactUrl(first)} answered ${res.statusCode} for ${path} without a Location`,
          { status: res.statusCode, upstream: redactUrl(first) },
        );
      if (hop >= MAX_REDIRECTS)
        throw new ModgateError(
          'UPSTREAM_REDIRECT',
          `upstream ${redactUrl(first)} redirected ${path} more than ${MAX_REDIRECTS} times`,
          { upstream: redactUrl(first) },
        );
      url = await checkRedirect(first, url, location, rule, this.opts.addresses ?? systemAddresses);
    }
  }

  /** Credentials only on the configured upstream's own origin, never across one. */
  private headersFor(url: URL, first: URL): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': 'modgate' };
    if (url.origin !== first.origin) return headers;
    const auth =
      this.opts.credentials?.(url) ??
      (first.username || first.password
        ? `Basic ${Buffer.from(`${decodeURIComponent(first.username)}:${decodeURIComponent(first.password)}`).toString('base64')}`
        : undefined);
    if (auth) headers.authorization = auth;
    return headers;
  }
}

/** Aborts a request's controller with UPSTREAM_TIMEOUT when its total deadline passes. */
class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;
  private readonly start = performance.now();

  constructor(
    private readonly ctl: AbortController,
    private readonly upstream: string,
    private readonly path: string,
  ) {}

  /** (Re)arms the timer to fire `ms` from now. */
  set(ms: number): void {
    this.clear();
    this.timer = setTimeout(
      () => {
        const took = Math.round(performance.now() - this.start);
        this.ctl.abort(
          new ModgateError(
            'UPSTREAM_TIMEOUT',
            `upstream ${this.upstream} did not deliver ${this.path} within its total deadline (${took} ms)`,
            { upstream: this.upstream, deadline: true, retryable: false },
          ),
        );
      },
      Math.max(0, ms),
    );
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

/** A pin refusal names the upstream's own URL in its fix (the TLS hook knows only the host). */
function withPinAdvice(err: ModgateError, url: URL): ModgateError {
  if (err.code !== 'UPSTREAM_PIN_MISMATCH') return err;
  const { host, seen } = err.details as { host: string; seen: string[] };
  return new ModgateError(
    err.code,
    pinMismatchText(host, seen, url.origin),
    { ...err.details, upstream: redactUrl(url) },
    { cause: err },
  );
}

function stripUserinfo(url: URL): string {
  if (!url.username && !url.password) return url.toString();
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
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

/** Node's TLS verification failures that an interception CA unknown to modgate causes. */
const UNTRUSTED_CHAIN = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/** Maps network and undici errors to ModgateError, keeping pin and other coded errors. */
export function toUpstreamError(err: unknown, upstream: string): ModgateError {
  if (isModgateError(err)) return err;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  if (isModgateError(cause)) return cause;
  const shown = redactUrl(upstream);
  const code = String((err as NodeJS.ErrnoException | undefined)?.code ?? '');
  const timeout = code.includes('TIMEOUT') || code === 'ETIMEDOUT';
  const message = err instanceof Error ? err.message : String(err);
  const hint = UNTRUSTED_CHAIN.has(code)
    ? `\nthe chain is not trusted: behind a TLS-inspecting proxy, put its CA in extraCaFile and pin it (\`modgate pins ${shown}\`, docs/pins.md)`
    : '';
  return new ModgateError(
    timeout ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE',
    `upstream ${shown}: ${message}${code ? ` (${code})` : ''}${hint}`,
    { upstream: shown, retryable: RETRYABLE_CODES.has(code) },
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
      if (!entry.fallBackOnError || e.code === 'REQUEST_INVALID' || signal?.aborted) throw e;
      lastErr = e;
    }
  }
  if (lastErr) throw lastErr;
  return notFound!;
}
