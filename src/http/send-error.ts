import type { FastifyReply } from 'fastify';
import { WWW_AUTHENTICATE } from '../auth/authenticate.js';
import { toHttpError } from './errors.js';

/**
 * Answers with the plain-text refusal of an error. Nothing is logged here: the
 * request's one log line (finish.ts) carries the code, and the error itself
 * for internal failures.
 */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body, error } = toHttpError(err);
  const state = reply.request.modgate;
  if (state) {
    state.code = error.code;
    if (status >= 500) state.err = error;
  }
  if (status === 401) reply.header('www-authenticate', WWW_AUTHENTICATE);
  const retry = error.details.retryAfterSeconds;
  if (status === 503 && typeof retry === 'number') reply.header('retry-after', String(retry));
  return (
    reply
      .code(status)
      .header('content-type', 'text/plain; charset=utf-8')
      .header('cache-control', 'no-store')
      // The code for clients that act on it (modgate prefetch); the body stays for people.
      .header('x-modgate-error', error.code)
      .send(body)
  );
}
