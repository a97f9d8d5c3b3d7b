import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ModgateError } from '../errors.js';
import type { ArtifactHit } from '../goproxy/artifacts.js';
import type { GatewayFlow, Served } from '../goproxy/flow.js';
import { toHttpError } from './errors.js';
import type { MetaResult } from '../goproxy/metadata.js';
import { parseProxyPath } from '../goproxy/paths.js';
import type { AuditPort, Decision, Identity, RequestContext } from '../contracts.js';
import type { BlobStore } from '../storage/types.js';

export interface RouteDeps {
  flow: GatewayFlow;
  store: BlobStore;
  audit: AuditPort;
  identify: (req: FastifyRequest) => Identity;
  sumdb?: (req: FastifyRequest, reply: FastifyReply, rest: string) => Promise<void>;
  metrics?: { served(kind: string, status: number, bytes: number, cache: string): void };
  cacheSeconds: { list: number };
}

const TYPES = {
  info: 'application/json',
  mod: 'text/plain; charset=utf-8',
  zip: 'application/zip',
  list: 'text/plain; charset=utf-8',
  latest: 'application/json',
  query: 'application/json',
} as const;
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The GOPROXY protocol endpoints (GET and HEAD) plus the /sumdb/ proxy. */
export function registerProxyRoutes(app: FastifyInstance, d: RouteDeps): void {
  app.get('/*', async (req, reply) => {
    const rest = (req.params as { '*': string })['*'];
    try {
      if (rest.startsWith('sumdb/')) {
        // 404 tells the go command to reach the checksum database directly.
        if (!d.sumdb)
          throw new ModgateError('NOT_FOUND', 'modgate proxies no checksum database (sumdb: off)');
        return await d.sumdb(req, reply, rest.slice('sumdb/'.length));
      }
      const parsed = parseProxyPath(`/${rest}`);
      const ctx = context(req, reply, d.identify(req));
      switch (parsed.kind) {
        case 'list':
          return sendMeta(reply, await d.flow.list(ctx, parsed.module), 'list', d);
        case 'latest':
          return sendMeta(reply, await d.flow.latest(ctx, parsed.module), 'latest', d);
        case 'query':
          return sendMeta(reply, await d.flow.query(ctx, parsed.module, parsed.query), 'query', d);
        default: {
          const served = await d.flow.artifact(ctx, parsed.module, parsed.version, parsed.kind);
          return await sendArtifact(req, reply, served, parsed.kind, d, ctx);
        }
      }
    } catch (err) {
      return sendError(reply, err);
    }
  });
}

export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body, error } = toHttpError(err);
  if (status >= 500) reply.log.error({ err: error, code: error.code }, 'request failed');
  else reply.log.info({ code: error.code }, error.message.split('\n', 1)[0]);
  if (status === 401)
    reply.header('www-authenticate', 'Basic realm="modgate", Bearer realm="modgate"');
  const retry = error.details.retryAfterSeconds;
  if (status === 503 && typeof retry === 'number') reply.header('retry-after', String(retry));
  return reply
    .code(status)
    .header('content-type', 'text/plain; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(body);
}

function context(req: FastifyRequest, reply: FastifyReply, identity: Identity): RequestContext {
  const lifetime = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished)
      lifetime.abort(new ModgateError('CLIENT_GONE', 'the client went away'));
  });
  const clientId = req.headers['x-request-id'];
  return {
    requestId: String(req.id),
    ...(typeof clientId === 'string' ? { clientRequestId: clientId.slice(0, 128) } : {}),
    identity,
    address: req.ip,
    startedAt: Date.now(),
    signal: lifetime.signal,
  };
}

function warnHeaders(reply: FastifyReply, decision: Decision): void {
  const warns = decision.warn.map((w) => `${w.code}: ${w.message}`.replace(/[^\x20-\x7e]/g, '?'));
  if (warns.length) reply.header('x-modgate-warning', warns.join(', '));
}

function sendMeta(
  reply: FastifyReply,
  served: Served<MetaResult>,
  kind: 'list' | 'latest' | 'query',
  d: RouteDeps,
): FastifyReply {
  const res = served.value;
  warnHeaders(reply, served.decision);
  if (res.status === 404 || res.status === 410) {
    throw new ModgateError(
      res.status === 410 ? 'UPSTREAM_GONE' : 'UPSTREAM_NOT_FOUND',
      `not found upstream`,
    );
  }
  if (res.cache === 'stale') {
    reply.header('warning', '110 modgate "Response is Stale"');
    reply.header(
      'x-modgate-stale',
      (res.staleReason ?? 'upstream unavailable').replace(/[^\x20-\x7e]/g, '?').slice(0, 200),
    );
  }
  if (res.hidden) reply.header('x-modgate-hidden', String(res.hidden));
  d.metrics?.served(kind, 200, Buffer.byteLength(res.body), res.cache);
  return reply
    .code(200)
    .header('content-type', TYPES[kind])
    .header('cache-control', `public, max-age=${d.cacheSeconds.list}`)
    .header('x-modgate-cache', res.cache)
    .send(res.body);
}

async function sendArtifact(
  req: FastifyRequest,
  reply: FastifyReply,
  served: Served<ArtifactHit>,
  kind: 'info' | 'mod' | 'zip',
  d: RouteDeps,
  ctx: RequestContext,
): Promise<FastifyReply> {
  const hit = served.value;
  const etag = `"${hit.evidence.sha256}"`;
  warnHeaders(reply, served.decision);
  reply
    .header('content-type', TYPES[kind])
    .header('etag', etag)
    .header('cache-control', IMMUTABLE)
    .header('x-modgate-cache', hit.cache);
  if (hit.evidence.h1) reply.header('x-modgate-h1', hit.evidence.h1);
  if (kind === 'zip') reply.header('accept-ranges', 'bytes');
  if (req.headers['if-none-match'] === etag) {
    d.audit.completion({ ctx, status: 304, bytes: 0, outcome: 'complete' });
    return reply.code(304).send();
  }
  const size = hit.info.size;
  const range = kind === 'zip' ? parseRange(req.headers.range, size) : null;
  if (range === 'invalid') {
    return reply.code(416).header('content-range', `bytes */${size}`).send();
  }
  const length = range ? range.end - range.start + 1 : size;
  if (hit.body && !range) {
    d.audit.completion({ ctx, status: 200, bytes: length, outcome: 'complete' });
    d.metrics?.served(kind, 200, length, hit.cache);
    return reply.header('content-length', length).send(hit.body);
  }
  // The flow's body source checks the bytes against their evidence on the way out.
  const stream = await hit.open(range ?? undefined);
  reply.raw.once('close', () => {
    const complete = reply.raw.writableFinished;
    d.audit.completion({
      ctx,
      status: reply.statusCode,
      bytes: complete ? length : 0,
      outcome: complete ? 'complete' : 'aborted',
    });
    d.metrics?.served(kind, reply.statusCode, complete ? length : 0, hit.cache);
  });
  if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
  return reply.header('content-length', length).send(stream);
}

/** One "bytes=a-b" range (the go command never asks for more than one). */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | 'invalid' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return 'invalid';
  return { start, end };
}
