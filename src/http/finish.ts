/**
 * What happens once an answer is done, for every request: it is counted in
 * the metrics (by kind, status and code), it gets its one log line, and, when
 * no decision record covers it, an access record (liveness probes aside).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ANONYMOUS } from '../auth/authenticate.js';
import type { Metrics } from '../observability/metrics.js';
import type { AccessAudit } from './access-audit.js';
import { isRecorded, routeKind, type RequestState } from './request-state.js';

const MAX_LOGGED_PATH = 512;

export interface FinishDeps {
  metrics: Metrics;
  access: AccessAudit;
}

export function registerFinish(app: FastifyInstance, d: FinishDeps): void {
  // A callback hook, not an async one: no promise per answer.
  app.addHook('onResponse', (req, reply, done) => {
    try {
      finish(req, reply, d);
    } catch (err) {
      return done(err as Error);
    }
    done();
  });
}

/**
 * Counts, logs and (unless a decision covers it) audits one finished answer.
 * Also called for requests refused before any hook ran (malformed URLs).
 */
export function finish(req: FastifyRequest, reply: FastifyReply, d: FinishDeps): void {
  {
    const s = req.modgate ?? lateState(req, reply);
    if (s.finished) return;
    s.finished = true;
    s.done();
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    d.metrics.answered({
      kind: s.kind,
      status,
      ...(s.code ? { code: s.code } : {}),
      seconds: ms / 1000,
    });
    const bytes = s.bytes ?? (Number(reply.getHeader('content-length')) || 0);
    const line = {
      method: req.method,
      kind: s.kind,
      ...(s.module ? { module: s.module } : {}),
      ...(s.version ? { version: s.version } : {}),
      status,
      ...(s.code ? { code: s.code } : {}),
      ...(s.cache ? { cache: s.cache } : {}),
      bytes,
      upstreamMs: Math.round(s.timings.upstreamMs),
      ...(s.timings.verifyMs ? { verifyMs: Math.round(s.timings.verifyMs) } : {}),
      ms: Math.round(ms),
      client: s.ctx.identity.id,
      ...(s.kind === 'unknown' ? { path: path(req) } : {}),
    };
    if (status >= 500) req.log.error({ ...line, ...(s.err ? { err: s.err } : {}) }, 'request');
    else req.log.info(line, 'request');
    // Liveness answers are not recorded; anything else sent to its path (a POST: 404) is.
    if ((s.kind === 'healthz' && status < 400) || isRecorded(s.ctx)) return;
    d.access.record({
      ctx: s.ctx,
      kind: s.kind,
      method: req.method,
      path: path(req),
      status,
      ...(s.code ? { code: s.code } : {}),
      ...(s.module ? { module: s.module } : {}),
      ...(s.version ? { version: s.version } : {}),
    });
  }
}

/**
 * An answer cut short (the client went, or its connection closed with the
 * answer still queued): fastify runs no onResponse for it, so it is counted,
 * logged and audited here, with CLIENT_GONE unless it already had a code.
 */
export function finishCut(req: FastifyRequest, reply: FastifyReply, d: FinishDeps): void {
  const s = req.modgate;
  if (!s || s.finished) return;
  s.code ??= 'CLIENT_GONE';
  finish(req, reply, d);
}

function path(req: FastifyRequest): string {
  return req.url.split('?', 1)[0]!.slice(0, MAX_LOGGED_PATH);
}

/** Requests refused before the front door ran (a malformed URL): anonymous, never authenticated. */
function lateState(req: FastifyRequest, reply: FastifyReply): RequestState {
  const code = reply.statusCode === 400 ? 'REQUEST_INVALID' : undefined;
  return {
    ctx: {
      requestId: String(req.id),
      identity: { ...ANONYMOUS, groups: [] },
      address: req.ip,
      startedAt: Date.now() - reply.elapsedTime,
      signal: AbortSignal.abort(),
    },
    kind: routeKind(req.url),
    ...(code ? { code } : {}),
    timings: { upstreamMs: 0, verifyMs: 0 },
    done: () => undefined,
  };
}
