/**
 * What the HTTP layer knows about one request while it is served: its context
 * (identity, lifetime signal), its route kind and module, the code and cache
 * result of its answer, and its timings. Created in one place, the front-door
 * hook (auth-hook.ts), and read once more when the answer is done (finish.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyRequest } from 'fastify';
import type { AuditPort, RequestContext } from '../contracts.js';
import type { TimingSink } from '../observability/metrics.js';

export type RouteKind =
  | 'info'
  | 'mod'
  | 'zip'
  | 'list'
  | 'latest'
  | 'query'
  | 'sumdb'
  | 'vuln'
  | 'metrics'
  | 'readyz'
  | 'healthz'
  | 'console'
  | 'console-api'
  | 'unknown';

export interface RequestState {
  ctx: RequestContext;
  kind: RouteKind;
  module?: string;
  version?: string;
  /** The error code of the answer (none for successes). */
  code?: string;
  /** An internal error, logged with the request's one line. */
  err?: unknown;
  cache?: string;
  bytes?: number;
  timings: TimingSink;
  /** Set once the answer is counted, logged and audited (finish.ts), which happens once. */
  finished?: boolean;
  /** Clears the request deadline. */
  done(): void;
}

declare module 'fastify' {
  interface FastifyRequest {
    modgate: RequestState | null;
  }
}

/**
 * Calls `fn` once, when the answer is done or can no longer be given, with
 * whether it was sent whole. The response's 'close' says so, except for an
 * answer queued behind another on a pipelined HTTP/1 connection that closed:
 * that response never emits 'close', and only its request, destroyed with the
 * connection's error, tells.
 */
export function onAnswerEnd(
  req: FastifyRequest,
  reply: { raw: { writableFinished: boolean; once(ev: 'close', fn: () => void): unknown } },
  fn: (complete: boolean) => void,
): void {
  let called = false;
  const end = (): void => {
    if (called) return;
    called = true;
    fn(reply.raw.writableFinished);
  };
  const raw = req.raw as {
    errored?: unknown;
    closed?: boolean;
    once(ev: 'close', fn: () => void): unknown;
  };
  // Its connection may have closed before this request was routed.
  if (raw.closed && raw.errored) return end();
  reply.raw.once('close', end);
  raw.once('close', () => {
    if (raw.errored && !reply.raw.writableFinished) end();
  });
}

/** The state of the request being served in this async context (for timings). */
export const requestStorage = new AsyncLocalStorage<RequestState>();

const recorded = new WeakSet<RequestContext>();

/**
 * Wraps the flow's audit port so that the HTTP layer knows which answers a
 * decision record already covers; every other answer gets an access record.
 */
export function trackDecisions(port: AuditPort): AuditPort {
  return {
    ...port,
    decision: (rec) => {
      recorded.add(rec.ctx);
      return port.decision(rec);
    },
    completion: (rec) => port.completion(rec),
    security: (ev) => port.security(ev),
    healthy: () => port.healthy(),
  };
}

export function isRecorded(ctx: RequestContext): boolean {
  return recorded.has(ctx);
}

/** The route kind of a URL path (refined by the routes, e.g. an .info that is a query). */
export function routeKind(url: string): RouteKind {
  const p = url.split('?', 1)[0]!;
  if (p === '/metrics') return 'metrics';
  if (p === '/readyz') return 'readyz';
  if (p === '/healthz') return 'healthz';
  if (p.startsWith('/sumdb/')) return 'sumdb';
  // No module path starts with "console" (its first element needs a dot).
  if (p.startsWith('/console/api/')) return 'console-api';
  if (p === '/console' || p.startsWith('/console/')) return 'console';
  if (p.startsWith('/vuln/')) return 'vuln';
  if (p.endsWith('/@v/list')) return 'list';
  if (p.endsWith('/@latest')) return 'latest';
  const m = /\/@v\/[^/]+\.(info|mod|zip)$/.exec(p);
  return m ? (m[1] as RouteKind) : 'unknown';
}

export function stateOf(req: FastifyRequest): RequestState | null {
  return req.modgate ?? null;
}
