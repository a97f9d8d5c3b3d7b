/**
 * The front door: one onRequest hook through which every request passes. It
 * creates the request's context (modgate's own id, the client's X-Request-Id
 * apart, a lifetime signal aborted when the client goes or the request
 * deadline passes) and authenticates it. Routes never authenticate; they read
 * `req.modgate.ctx`. Only the liveness probe (/healthz) and, when the console
 * is on, its static shell (/console/ outside /console/api/, no data) are
 * served without authentication; the console's API needs a role.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ModgateError } from '../errors.js';
import type { Identity, RequestContext } from '../contracts.js';
import { ANONYMOUS } from '../auth/authenticate.js';
import { onAnswerEnd, requestStorage, routeKind, type RequestState } from './request-state.js';
import { purposeOf } from './purpose.js';
import { sendError } from './send-error.js';

export interface FrontDoorOptions {
  identify: (req: FastifyRequest) => Identity;
  /** Total time for one request's work; its signal is aborted after it. */
  deadlineMs: number;
  /** Metrics and readiness need a real identity even when anonymous access is allowed. */
  protectHealth: boolean;
  /** The web console is served: its API needs one of these roles (src/console). */
  consoleRoles?: readonly string[];
}

const MAX_CLIENT_ID = 128;

export function registerFrontDoor(app: FastifyInstance, o: FrontDoorOptions): void {
  app.decorateRequest('modgate', null);
  app.addHook('onRequest', (req, reply, done) => {
    const state = newState(req, reply, o.deadlineMs);
    req.modgate = state;
    requestStorage.run(state, () => {
      if (state.kind === 'healthz') return done();
      // The console's static shell (no data) loads before its login form has a token.
      if (state.kind === 'console' && o.consoleRoles) return done();
      try {
        // Node would refuse it before any hook (plain HTTP): refused here, so that it is recorded.
        if (req.raw.httpVersion === '1.1' && req.headers.host === undefined)
          throw new ModgateError('REQUEST_INVALID', 'an HTTP/1.1 request needs a Host header');
        state.ctx.identity = o.identify(req);
        if (state.kind === 'console-api' && o.consoleRoles)
          checkRole(state.ctx.identity, o.consoleRoles);
        if (
          o.protectHealth &&
          (state.kind === 'metrics' || state.kind === 'readyz') &&
          state.ctx.identity.method === 'anonymous'
        ) {
          throw new ModgateError('AUTH_REQUIRED', `${req.url} requires authentication`);
        }
      } catch (err) {
        sendError(reply, err);
        return;
      }
      done();
    });
  });
}

/** The console's API: an identity (401 without one), with one of the roles (403 without). */
function checkRole(identity: Identity, roles: readonly string[]): void {
  if (identity.method === 'anonymous')
    throw new ModgateError('AUTH_REQUIRED', 'the console needs a token or client certificate');
  if (!(identity.roles ?? []).some((r) => roles.includes(r)))
    throw new ModgateError(
      'ROLE_REQUIRED',
      `${identity.id} has none of the roles ${roles.join(', ')} that the console needs`,
      { roles: [...roles] },
    );
}

function newState(req: FastifyRequest, reply: FastifyReply, deadlineMs: number): RequestState {
  // The lifetime signal is made when first asked for: a cached hit never needs one, and an
  // AbortSignal is one of the costliest objects of a request. Asked for after the deadline
  // passed or the client went, it is born aborted with that reason.
  let lifetime: AbortController | undefined;
  let reason: ModgateError | undefined;
  const abort = (why: ModgateError): void => {
    reason ??= why;
    lifetime?.abort(reason);
  };
  const timer = setTimeout(
    () =>
      abort(new ModgateError('REQUEST_TIMEOUT', `the request took longer than ${deadlineMs} ms`)),
    deadlineMs,
  );
  onAnswerEnd(req, reply, (complete) => {
    clearTimeout(timer);
    if (!complete) abort(new ModgateError('CLIENT_GONE', 'the client went away'));
  });
  const clientId = req.headers['x-request-id'];
  const purpose = purposeOf(req.headers);
  const ctx: RequestContext = {
    requestId: String(req.id),
    ...(typeof clientId === 'string' && clientId !== ''
      ? { clientRequestId: clientId.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_CLIENT_ID) }
      : {}),
    ...(purpose ? { purpose } : {}),
    identity: { ...ANONYMOUS, groups: [] },
    address: req.ip,
    startedAt: Date.now(),
    get signal(): AbortSignal {
      if (!lifetime) {
        lifetime = new AbortController();
        if (reason) lifetime.abort(reason);
      }
      return lifetime.signal;
    },
  };
  return {
    ctx,
    kind: routeKind(req.url),
    timings: { upstreamMs: 0, verifyMs: 0 },
    done: () => clearTimeout(timer),
  };
}
