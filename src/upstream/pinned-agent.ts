/**
 * An undici Dispatcher for upstream traffic that pins SPKI keys per host.
 *
 * | code                   | meaning                                                         |
 * |------------------------|-----------------------------------------------------------------|
 * | UPSTREAM_PIN_MISMATCH  | the upstream's verified chain matches none of the host's pins   |
 * | UPSTREAM_UNPINNED      | pinning is required and the host has no pins                    |
 * | UPSTREAM_INSECURE      | a plain-http upstream while allowHttp is false                  |
 * | PIN_INVALID            | a configured pin is malformed (from src/tls/pins.ts)             |
 *
 * How a refusal reaches the caller: the pin check runs in the TLS
 * `checkServerIdentity` hook, after Node's usual hostname check. Node destroys
 * the socket with the Error the hook returns, and undici rejects the request
 * with that very object, so `request()` rejects with the ModgateError
 * (toUpstreamError in client.ts also looks at `err.cause`). UPSTREAM_UNPINNED
 * and UPSTREAM_INSECURE are thrown synchronously by dispatch(), which
 * `request()` turns into a rejection before any connection is made.
 *
 * Resumed TLS sessions skip checkServerIdentity, so the TLS session cache is
 * off (maxCachedSessions: 0) and updatePins() builds a fresh Agent; the old
 * one is closed gracefully (in-flight requests finish, on the old pins).
 */
import { X509Certificate } from 'node:crypto';
import tls, { type PeerCertificate } from 'node:tls';
import { Agent, Dispatcher, EnvHttpProxyAgent } from 'undici';
import { ModgateError, isModgateError } from '../errors.js';
import { validatePins, verifyPinnedChain } from '../tls/pins.js';

export type PinSource =
  | Map<string, readonly string[]>
  | Record<string, readonly string[]>
  | ((host: string) => readonly string[] | undefined);

export type PinEvent =
  | { kind: 'mismatch'; host: string; expected: string[]; seen: string[] }
  | { kind: 'unpinned'; host: string };

export interface ProxySettings {
  httpsProxy?: string;
  httpProxy?: string;
  /** NO_PROXY syntax: comma-separated hosts, `.suffix`, `host:port`, `*`. */
  noProxy?: string;
}

export interface PinnedDispatcherOptions {
  pins: PinSource;
  pinning: 'required' | 'optional';
  allowHttp: boolean;
  /** Extra CA certificates (PEM), trusted in addition to Node's bundled roots. */
  ca?: string[];
  /** 'env' reads HTTPS_PROXY/HTTP_PROXY/NO_PROXY; an object sets them; absent means direct. */
  proxy?: 'env' | ProxySettings;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  connections?: number;
  /** Mismatches (request refused) and, with optional pinning, unpinned hosts (allowed). */
  onPinEvent?: (event: PinEvent) => void;
}

/** Lower-case, no brackets, no trailing dot: the key under which pins are looked up. */
export function normalizeHost(host: string): string {
  return host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
}

/** Looks up a host: exact name first, then `*.parent` wildcards (one label). */
export function pinsFor(source: PinSource, host: string): readonly string[] | undefined {
  const h = normalizeHost(host);
  if (typeof source === 'function') return source(h);
  const get = (k: string): readonly string[] | undefined =>
    source instanceof Map ? source.get(k) : Object.hasOwn(source, k) ? source[k] : undefined;
  const exact = get(h);
  if (exact) return exact;
  const dot = h.indexOf('.');
  return dot > 0 ? get(`*${h.slice(dot)}`) : undefined;
}

/** UPSTREAM_UNPINNED, with the way to get a pin. */
function unpinned(host: string, url = `https://${host}`): ModgateError {
  return new ModgateError(
    'UPSTREAM_UNPINNED',
    `no TLS key pins are configured for ${host}\n` +
      `see its chain with \`modgate pins ${url}\` and add the CA's pin under pins."${host}"; see docs/pins.md`,
    { host },
  );
}

function checkAll(source: PinSource): void {
  if (typeof source === 'function') return;
  for (const pins of source instanceof Map ? source.values() : Object.values(source))
    validatePins(pins);
}

function parseAnchors(pems: readonly string[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const pem of pems) {
    try {
      out.push(new X509Certificate(pem));
    } catch {
      // A CA the TLS layer cannot use either.
    }
  }
  return out;
}

/** Builds the checkServerIdentity hook: hostname first, then the pins. */
export function pinCheck(
  opts: Pick<PinnedDispatcherOptions, 'pins' | 'pinning' | 'onPinEvent' | 'ca'>,
) {
  let anchors: X509Certificate[] | undefined;
  return (hostname: string, cert: PeerCertificate): Error | undefined => {
    const nameError = tls.checkServerIdentity(hostname, cert);
    if (nameError) return nameError;
    const host = normalizeHost(hostname);
    const pins = pinsFor(opts.pins, host);
    if (!pins || pins.length === 0) {
      if (opts.pinning === 'required') return unpinned(host);
      opts.onPinEvent?.({ kind: 'unpinned', host });
      return undefined;
    }
    try {
      anchors ??= parseAnchors([...tls.rootCertificates, ...(opts.ca ?? [])]);
      verifyPinnedChain(cert as tls.DetailedPeerCertificate, pins, host, anchors);
      return undefined;
    } catch (err) {
      if (isModgateError(err, 'UPSTREAM_PIN_MISMATCH')) {
        const { expected, seen } = err.details as { expected: string[]; seen: string[] };
        opts.onPinEvent?.({ kind: 'mismatch', host, expected, seen });
        return err;
      }
      return err instanceof Error ? err : new Error(String(err));
    }
  };
}

function buildAgent(opts: PinnedDispatcherOptions): Dispatcher {
  const tlsOpts = {
    checkServerIdentity: pinCheck(opts),
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2' as const,
    ...(opts.ca && opts.ca.length > 0 ? { ca: [...tls.rootCertificates, ...opts.ca] } : {}),
  };
  const agentOpts = {
    connect: { ...tlsOpts, timeout: opts.connectTimeoutMs ?? 10_000, maxCachedSessions: 0 },
    headersTimeout: opts.headersTimeoutMs ?? 30_000,
    bodyTimeout: opts.bodyTimeoutMs ?? 60_000,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 30_000,
    ...(opts.connections ? { connections: opts.connections } : {}),
  };
  if (!opts.proxy) return new Agent(agentOpts);
  const p = opts.proxy === 'env' ? {} : opts.proxy;
  return new EnvHttpProxyAgent({
    ...agentOpts,
    ...(p.httpProxy !== undefined ? { httpProxy: p.httpProxy } : {}),
    ...(p.httpsProxy !== undefined ? { httpsProxy: p.httpsProxy } : {}),
    ...(p.noProxy !== undefined ? { noProxy: p.noProxy } : {}),
    requestTls: { ...tlsOpts, maxCachedSessions: 0 },
    ...(opts.ca && opts.ca.length > 0 ? { proxyTls: { ca: tlsOpts.ca } } : {}),
  } as ConstructorParameters<typeof EnvHttpProxyAgent>[0]);
}

/**
 * A Dispatcher that refuses plain http (unless allowed) and unpinned hosts
 * (unless pinning is optional), and pins every TLS handshake. Callers keep one
 * reference; updatePins() swaps the Agent underneath.
 */
export class PinnedDispatcher extends Dispatcher {
  #opts: PinnedDispatcherOptions;
  #current: Dispatcher;
  #retiring = new Set<Promise<void>>();

  constructor(opts: PinnedDispatcherOptions) {
    super();
    checkAll(opts.pins);
    this.#opts = opts;
    this.#current = buildAgent(opts);
  }

  override dispatch(
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): boolean {
    const origin = new URL(String(options.origin));
    if (origin.protocol === 'http:' && !this.#opts.allowHttp) {
      throw new ModgateError(
        'UPSTREAM_INSECURE',
        `refusing plain-http upstream ${origin.origin}: TLS is required`,
        { origin: origin.origin },
      );
    }
    if (origin.protocol === 'https:' && this.#opts.pinning === 'required') {
      const host = normalizeHost(origin.hostname);
      const pins = pinsFor(this.#opts.pins, host);
      if (!pins || pins.length === 0) throw unpinned(host, origin.origin);
    }
    return this.#current.dispatch(options, handler);
  }

  /**
   * Replaces the pins: new requests use a new Agent at once; the previous
   * Agent finishes its in-flight requests and closes. Resolves when it has.
   */
  updatePins(pins: PinSource): Promise<void> {
    checkAll(pins);
    const old = this.#current;
    this.#opts = { ...this.#opts, pins };
    this.#current = buildAgent(this.#opts);
    const done = old.close().finally(() => this.#retiring.delete(done));
    this.#retiring.add(done);
    return done;
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const p = Promise.all([this.#current.close(), ...this.#retiring]).then(() => undefined);
    if (!callback) return p;
    void p.then(callback, callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null);
    const callback = typeof a === 'function' ? a : b;
    const p = this.#current.destroy(err).then(() => undefined);
    if (!callback) return p;
    void p.then(callback, callback);
  }
}

export function createPinnedDispatcher(opts: PinnedDispatcherOptions): PinnedDispatcher {
  return new PinnedDispatcher(opts);
}
