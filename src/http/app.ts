import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { clientErrorHandler, guardMethods, watchSideDoors } from './client-error.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Identity } from '../contracts.js';
import type { Redactor } from '../config/redact.js';
import { scrubUserinfo } from '../config/redact.js';
import type { SumdbRelay } from '../goproxy/sumdb-relay.js';
import type { Metrics } from '../observability/metrics.js';
import { AccessAudit } from './access-audit.js';
import { registerFrontDoor } from './auth-hook.js';
import { finish, finishCut, registerFinish } from './finish.js';
import { onAnswerEnd, requestStorage } from './request-state.js';
import { registerProxyRoutes, type RouteDeps } from './routes.js';
import { sendError } from './send-error.js';
import { registerSumdbRoutes } from './sumdb-routes.js';
import { registerVulnRoutes, type VulnMirror } from './vuln-routes.js';

export interface ServerDeps extends RouteDeps {
  logger: Logger;
  metrics: Metrics;
  identify: (req: FastifyRequest) => Identity;
  /** https options for fastify (with http2 + allowHTTP1), or undefined for plain HTTP. */
  https?: Record<string, unknown>;
  ready: () => Promise<{ ok: boolean; checks: Record<string, string> }>;
  /** Metrics and readiness need a real identity even when anonymous access is allowed. */
  protectHealth: boolean;
  sumdb?: { relays: readonly SumdbRelay[]; latestTtlSeconds: number };
  /** The GOVULNDB mirror at /vuln/ (vulndb.enabled). */
  vulndb?: VulnMirror;
  /** Total time for one request's work (its AbortSignal fires after it). */
  requestDeadlineMs?: number;
  /** Answers per client, code and second audited one by one before aggregation. */
  auditBurst?: number;
  /** Replaces secrets in error bodies, headers, metrics and readiness details. */
  redact?: Redactor;
  /** The web console is on: its API needs one of these roles (its routes: src/console). */
  consoleRoles?: readonly string[];
}

const SCRUBBED_HEADERS = ['x-modgate-warning', 'x-modgate-stale'] as const;

/** Builds the HTTP(S) server: health, metrics, the module proxy and the checksum-database relay. */
export function buildServer(d: ServerDeps): FastifyInstance {
  const redact = d.redact ?? scrubUserinfo;
  const access = new AccessAudit({
    port: d.audit,
    burst: d.auditBurst ?? 10,
    onAggregated: (code, n) => d.metrics.auditAggregated.inc({ code }, n),
    onError: (err) => d.logger.error({ err }, 'access record not written'),
  });
  const finishDeps = { metrics: d.metrics, access };
  const opts: FastifyServerOptions & Record<string, unknown> = {
    loggerInstance: d.logger,
    // One line per request, written when the answer is done (finish.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // modgate's own id; a client's X-Request-Id is kept apart (RequestContext.clientRequestId).
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    // Requests that arrive while closing go through the front door and are recorded
    // (SHUTTING_DOWN from the flow), not answered by fastify with an unrecorded 503.
    return503OnClosing: false,
    forceCloseConnections: false,
    routerOptions: { maxParamLength: 4096 },
    // Malformed URLs (bad percent-encoding) get the same plain-text 400 as other bad requests.
    // No hook runs for them, so they are counted, logged and audited here.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      reply.raw.once('finish', () => finish(req, reply, finishDeps));
      void reply
        .header('x-request-id', req.id)
        .code(400)
        .type('text/plain; charset=utf-8')
        .send(`REQUEST_INVALID: ${err.message}\n`);
    },
    // Requests the HTTP parser refuses never reach a hook: answered and recorded there.
    clientErrorHandler: clientErrorHandler({ ...finishDeps, logger: d.logger }),
  };
  if (d.https) {
    opts.http2 = true;
    opts.https = { allowHTTP1: true, ...d.https };
  } else {
    // A Host-less HTTP/1.1 request goes through the front door (refused and recorded there).
    opts.http = { requireHostHeader: false };
  }
  const app = Fastify(opts as FastifyServerOptions) as unknown as FastifyInstance;
  quietListen(app.log as Logger);
  watchSideDoors(app.server, { ...finishDeps, logger: d.logger });
  guardMethods(app.server as never, { ...finishDeps, logger: d.logger });
  d.metrics.timings = () => requestStorage.getStore()?.timings;
  let active = 0;
  d.metrics.activeSource = () => active;
  // Once close() began, an answer ends its HTTP/1 connection (Connection: close,
  // and the idle ones are closed as each answer ends), so that close() waits for
  // the answers in flight and never for a keep-alive timeout (fastify's is 72 s).
  let draining = false;
  const reap = (): void => void app.server.closeIdleConnections?.();
  app.addHook('preClose', (done) => {
    draining = true;
    done();
  });
  app.addHook('onRequest', (req, reply, done) => {
    active++;
    onAnswerEnd(req, reply, (complete) => {
      active--;
      // fastify's onResponse runs only for answers sent whole: the others are finished here.
      // (Later: the answer may end before the front door has given the request its state.)
      if (!complete) setImmediate(() => finishCut(req, reply, finishDeps));
      if (draining) setImmediate(reap);
    });
    done();
  });
  registerFrontDoor(app, {
    identify: d.identify,
    deadlineMs: d.requestDeadlineMs ?? 120_000,
    protectHealth: d.protectHealth,
    ...(d.consoleRoles ? { consoleRoles: d.consoleRoles } : {}),
  });
  registerFinish(app, finishDeps);
  app.addHook('onClose', async () => access.close());

  // A callback hook, not an async one: it runs on every answer, and a promise per answer costs.
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header('x-request-id', req.id);
    if (draining && req.raw.httpVersionMajor === 1) reply.header('connection', 'close');
    for (const h of SCRUBBED_HEADERS) {
      const v = reply.getHeader(h);
      if (typeof v === 'string') reply.header(h, redact(v));
    }
    // Module bytes pass untouched (their hashes are verified); texts modgate wrote do not.
    const ours = reply.statusCode >= 400 || req.modgate?.kind === 'metrics';
    done(null, ours && typeof payload === 'string' ? redact(payload) : payload);
  });
  app.setNotFoundHandler((req, reply) => {
    if (req.modgate) req.modgate.code = 'NOT_FOUND';
    return reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
  });
  app.setErrorHandler((err, _req, reply) => sendError(reply, err));

  // Liveness: the only answer served without authentication and without an audit record.
  app.get('/healthz', async (_req, reply) => reply.type('text/plain; charset=utf-8').send('ok\n'));
  app.get('/readyz', async (_req, reply) => {
    const r = await d.ready();
    const checks = Object.fromEntries(Object.entries(r.checks).map(([k, v]) => [k, redact(v)]));
    return reply.code(r.ok ? 200 : 503).send({ ok: r.ok, checks });
  });
  app.get('/metrics', async (_req, reply) => {
    return reply.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics());
  });
  registerSumdbRoutes(app, d.sumdb?.relays ?? [], d.sumdb?.latestTtlSeconds ?? 60);
  registerVulnRoutes(app, d.vulndb);
  registerProxyRoutes(app, d);
  return app;
}

/**
 * fastify logs "Server listening at ..." on its own at listen; modgate writes
 * its own start line once it really serves, so that one is dropped. Request
 * loggers are children and keep their methods.
 */
function quietListen(root: Logger): void {
  const info = root.info.bind(root);
  root.info = ((...args: Parameters<Logger['info']>) => {
    if (typeof args[0] === 'string' && args[0].startsWith('Server listening at')) return;
    info(...args);
  }) as Logger['info'];
}
