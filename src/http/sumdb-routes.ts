/**
 * /sumdb/<name>/... : the checksum-database relay's HTTP face. A database
 * name may contain "/", so the path is matched against the configured names
 * (longest first); an unconfigured name is 404, which tells the go command to
 * reach that database directly. The relay itself (src/goproxy/sumdb-relay.ts)
 * parses and verifies; nothing here reaches an upstream.
 */
import type { FastifyInstance } from 'fastify';
import { ModgateError } from '../errors.js';
import type { SumdbRelay } from '../goproxy/sumdb-relay.js';
import { sendError } from './send-error.js';

const TEXT = 'text/plain; charset=utf-8';

export function registerSumdbRoutes(
  app: FastifyInstance,
  relays: readonly SumdbRelay[],
  latestTtlSeconds: number,
): void {
  const byLength = [...relays].sort((a, b) => b.name.length - a.name.length);
  app.get('/sumdb/*', async (req, reply) => {
    const rest = (req.params as { '*': string })['*'];
    const state = req.modgate;
    try {
      // The protocol has no query strings: one is junk, refused before any upstream request.
      if (req.url.includes('?'))
        throw new ModgateError('REQUEST_INVALID', 'checksum database paths take no query string');
      const relay = byLength.find((r) => rest.startsWith(`${r.name}/`));
      if (!relay) {
        throw new ModgateError(
          'NOT_FOUND',
          relays.length
            ? 'modgate relays no such checksum database'
            : 'modgate proxies no checksum database (sumdb: off)',
        );
      }
      const parsed = relay.parse(rest.slice(relay.name.length + 1));
      if (state && parsed.op === 'lookup') {
        state.module = parsed.module;
        state.version = parsed.version;
      }
      const answer = await relay.serve(parsed);
      if (answer.stale) reply.header('x-modgate-stale', `${answer.stale}: serving the stored head`);
      return await reply
        .code(200)
        .header('content-type', TEXT)
        .header(
          'cache-control',
          answer.immutable
            ? 'public, max-age=31536000, immutable'
            : `public, max-age=${latestTtlSeconds}`,
        )
        .send(answer.body);
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
