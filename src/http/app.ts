import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import { registerProxyRoutes, sendError, type RouteDeps } from './routes.js';

export interface ServerDeps extends RouteDeps {
  logger: Logger;
  metrics: Metrics;
  /** https options for fastify (with http2 + allowHTTP1), or undefined for plain HTTP. */
  https?: Record<string, unknown>;
  ready: () => Promise<{ ok: boolean; checks: Record<string, string> }>;
  /** Health and metrics require authentication when set. */
  protectHealth: boolean;
}

/** Builds the HTTP(S) server: health, metrics and the module proxy routes. */
export function buildServer(d: ServerDeps): FastifyInstance {
  const opts: FastifyServerOptions & Record<string, unknown> = {
    loggerInstance: d.logger,
    // modgate's own id; a client's X-Request-Id is kept apart (RequestContext.clientRequestId).
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    return503OnClosing: true,
    forceCloseConnections: false,
    routerOptions: { maxParamLength: 4096 },
    // Malformed URLs (bad percent-encoding) get the same plain-text 400 as other bad requests.
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      void reply
        .code(400)
        .type('text/plain; charset=utf-8')
        .send(`REQUEST_INVALID: ${err.message}\n`);
    },
  };
  if (d.https) {
    opts.http2 = true;
    opts.https = { allowHTTP1: true, ...d.https };
  }
  const app = Fastify(opts as FastifyServerOptions) as unknown as FastifyInstance;

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.setNotFoundHandler((_req, reply) =>
    reply.code(404).type('text/plain; charset=utf-8').send('not found\n'),
  );
  app.setErrorHandler((err, _req, reply) => sendError(reply, err));

  const guard = (req: Parameters<RouteDeps['identify']>[0]): void => {
    if (d.protectHealth) d.identify(req);
  };
  app.get('/healthz', async (req, reply) => {
    guard(req);
    return reply.type('text/plain; charset=utf-8').send('ok\n');
  });
  app.get('/readyz', async (req, reply) => {
    guard(req);
    const r = await d.ready();
    return reply.code(r.ok ? 200 : 503).send(r);
  });
  app.get('/metrics', async (req, reply) => {
    guard(req);
    return reply.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics());
  });
  registerProxyRoutes(app, d);
  return app;
}
