import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ModgateError } from '../errors.js';
import type { ArtifactHit } from '../goproxy/artifacts.js';
import type { GatewayFlow, Served } from '../goproxy/flow.js';
import type { MetaResult } from '../goproxy/metadata.js';
import { parseProxyPath } from '../goproxy/paths.js';
import type { AuditPort, Decision, RequestContext } from '../contracts.js';
import type { BlobStore } from '../storage/types.js';
import { onAnswerEnd, type RequestState } from './request-state.js';
import { sendError } from './send-error.js';

export { sendError } from './send-error.js';

export interface RouteDeps {
  flow: GatewayFlow;
  store: BlobStore;
  audit: AuditPort;
  metrics?: { served(kind: string, bytes: number, cache: string): void };
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
const DONE = Promise.resolve();

/**
 * The GOPROXY protocol endpoints (GET and HEAD). Authentication and the
 * request context come from the front door (auth-hook.ts).
 */
export function registerProxyRoutes(app: FastifyInstance, d: RouteDeps): void {
  app.get('/*', async (req, reply) => {
    const rest = (req.params as { '*': string })['*'];
    const state = req.modgate!;
    try {
      const parsed = parseProxyPath(`/${rest}`);
      state.kind = parsed.kind;
      state.module = parsed.module;
      if (parsed.kind === 'query') state.version = parsed.query;
      else if ('version' in parsed) state.version = parsed.version;
      const ctx = state.ctx;
      switch (parsed.kind) {
        case 'list':
          return sendMeta(reply, await d.flow.list(ctx, parsed.module), 'list', d, state);
        case 'latest':
          return sendMeta(reply, await d.flow.latest(ctx, parsed.module), 'latest', d, state);
        case 'query':
          return sendMeta(
            reply,
            await d.flow.query(ctx, parsed.module, parsed.query),
            'query',
            d,
            state,
          );
        default: {
          const served = await d.flow.artifact(ctx, parsed.module, parsed.version, parsed.kind);
          return await sendArtifact(req, reply, served, parsed.kind, d, state);
        }
      }
    } catch (err) {
      return sendError(reply, err);
    }
  });
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
  state: RequestState,
): FastifyReply {
  const res = served.value;
  state.cache = res.cache;
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
  state.bytes = Buffer.byteLength(res.body);
  d.metrics?.served(kind, state.bytes, res.cache);
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
  state: RequestState,
): Promise<FastifyReply> {
  const ctx: RequestContext = state.ctx;
  const hit = served.value;
  state.cache = hit.cache;
  const etag = `"${hit.evidence.sha256}"`;
  warnHeaders(reply, served.decision);
  reply
    .header('content-type', TYPES[kind])
    .header('etag', etag)
    .header('cache-control', IMMUTABLE)
    .header('x-modgate-cache', hit.cache);
  if (hit.evidence.h1) reply.header('x-modgate-h1', hit.evidence.h1);
  if (kind === 'zip') reply.header('accept-ranges', 'bytes');
  // No answer completes before its decision record is durable: a 304 and a
  // body held in memory (one write) wait for it whole; a stream holds back its
  // last chunk (hit.open), so a failed record aborts it before it is complete.
  const durable = served.durable ?? DONE;
  if (req.headers['if-none-match'] === etag) {
    await durable;
    state.bytes = 0;
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
    await durable;
    state.bytes = length;
    d.audit.completion({ ctx, status: 200, bytes: length, outcome: 'complete' });
    d.metrics?.served(kind, length, hit.cache);
    return reply.header('content-length', length).send(hit.body);
  }
  // The flow's body source checks the bytes against their evidence on the way out.
  const stream = await hit.open(range ?? undefined, durable);
  onAnswerEnd(req, reply, (complete) => {
    // An answer that can no longer be given closes its file, which nothing would read.
    if (!complete) stream.destroy();
    state.bytes = complete ? length : 0;
    d.audit.completion({
      ctx,
      status: reply.statusCode,
      bytes: complete ? length : 0,
      outcome: complete ? 'complete' : 'aborted',
    });
    d.metrics?.served(kind, complete ? length : 0, hit.cache);
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
