/**
 * Requests Node's HTTP/1 server answers or drops before any route or hook
 * sees them: those its parser refuses (a garbled request line, bad header
 * syntax or framing, headers too large or too slow), CONNECT (modgate is no
 * forward proxy) and an Expect it does not know. Each is answered here in
 * plain text with a stable code, counted, logged and given an access record
 * like every other answer, and its connection is closed. A connection reset
 * is no request and is not recorded.
 */
import { randomUUID } from 'node:crypto';
import { METHODS, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ANONYMOUS } from '../auth/authenticate.js';
import { ModgateError, type ErrorCode } from '../errors.js';
import { statusFor } from './errors.js';
import type { FinishDeps } from './finish.js';

const MESSAGE: Partial<Record<ErrorCode, string>> = {
  REQUEST_MALFORMED: 'the HTTP request could not be parsed',
  REQUEST_HEADERS_TOO_LARGE: 'the request headers are larger than the server accepts',
  REQUEST_HEADERS_TIMEOUT: 'the request headers did not arrive in time',
  REQUEST_EXPECTATION_FAILED: 'only "Expect: 100-continue" is understood',
  NOT_FOUND: 'CONNECT is not served: modgate is a module proxy, not a forward proxy',
};
const MAX_PATH = 512;

type Deps = FinishDeps & { logger: Logger };

/** The code for a parser or timeout error, or undefined for a connection error (no request). */
export function clientErrorCode(err: { code?: string }): ErrorCode | undefined {
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'REQUEST_HEADERS_TOO_LARGE';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'REQUEST_HEADERS_TIMEOUT';
  if (err.code?.startsWith('HPE_')) return 'REQUEST_MALFORMED';
  return undefined;
}

/** fastify's clientErrorHandler: the parser's refusals. */
export function clientErrorHandler(d: Deps) {
  return (err: Error & { code?: string }, socket: Duplex): void => {
    const code = clientErrorCode(err);
    if (!code) {
      socket.destroy();
      return;
    }
    // A request is under way on this connection (its body failed to parse, or
    // bytes after it did): nothing is written into its answer, and it is
    // recorded under its own id as cut short (CLIENT_GONE), not twice.
    if ((socket as { _httpMessage?: unknown })._httpMessage) {
      d.logger.info(
        { code, parser: err.code },
        'connection closed: unparsable bytes during a request',
      );
      socket.destroy();
      return;
    }
    answerRaw(d, socket, code, { parser: err.code });
  };
}

/** The server events Node otherwise answers (or drops) by itself: CONNECT and an unknown Expect. */
export function watchSideDoors(
  server: { on(event: string, listener: (...args: never[]) => void): unknown },
  d: Deps,
): void {
  // HTTP/1 hands over the socket; HTTP/2 a response for the stream.
  server.on('connect', (req: IncomingMessage, to: Duplex | ServerResponse) => {
    answerRaw(d, 'writeHead' in to ? req.socket : to, 'NOT_FOUND', {
      method: 'CONNECT',
      path: req.url ?? '',
      ...('writeHead' in to ? { send: respond(to) } : {}),
    });
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    answerRaw(d, req.socket, 'REQUEST_EXPECTATION_FAILED', {
      method: req.method ?? '-',
      path: (req.url ?? '').split('?', 1)[0]!,
      send: respond(res),
    });
  });
}

/**
 * Requests with a method fastify's router does not know (HTTP/2 lets any name
 * through; HTTP/1's parser refuses them) would be answered by fastify's
 * fallback without a hook: they are answered and recorded here instead.
 */
export function guardMethods(
  server: {
    listeners(event: 'request'): Array<(...args: never[]) => void>;
    removeListener(event: 'request', l: (...args: never[]) => void): unknown;
    on(event: 'request', l: (req: IncomingMessage, res: ServerResponse) => void): unknown;
  },
  d: Deps,
): void {
  const [handler, ...more] = server.listeners('request');
  if (!handler || more.length > 0) throw new Error('guardMethods expects one request listener');
  const known = new Set(METHODS);
  server.removeListener('request', handler);
  server.on('request', function (this: unknown, req, res) {
    if (known.has(req.method ?? ''))
      return (handler as (req: IncomingMessage, res: ServerResponse) => void).call(this, req, res);
    answerRaw(d, req.socket, 'NOT_FOUND', {
      method: (req.method ?? '-').slice(0, 32),
      path: (req.url ?? '').split('?', 1)[0]!,
      send: respond(res),
      message: `the method ${(req.method ?? '').slice(0, 32)} is not served`,
    });
  });
}

function respond(res: ServerResponse): Send {
  return (status, headers, body) => {
    // HTTP/2 has no Connection header: the stream just ends.
    const h2 = res.req?.httpVersionMajor === 2;
    const out = Object.entries(headers).filter(([k]) => !(h2 && k === 'connection'));
    res.writeHead(status, Object.fromEntries(out.map(([k, v]) => [k, String(v)])));
    res.end(body);
  };
}

type Send = (status: number, headers: Record<string, string | number>, body: string) => void;

/** Writes the answer straight to the socket and closes it once written (or after 5 s). */
function sendOnSocket(socket: Duplex): Send {
  return (status, headers, body) => {
    const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head.join('')}\r\n${body}`, () =>
      socket.destroy(),
    );
    setTimeout(() => socket.destroy(), 5000).unref();
  };
}

function answerRaw(
  d: Deps,
  socket: Duplex,
  code: ErrorCode,
  o: { method?: string; path?: string; parser?: string; send?: Send; message?: string },
): void {
  // Read first: a destroyed socket no longer knows its peer.
  const address = (socket as { remoteAddress?: string }).remoteAddress ?? '';
  const status = statusFor(new ModgateError(code, ''));
  const id = randomUUID();
  const body = `${code}: ${o.message ?? MESSAGE[code]}\n`;
  const headers = {
    connection: 'close',
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': id,
  };
  if (o.send) o.send(status, headers, body);
  else if (!socket.writable) socket.destroy();
  else sendOnSocket(socket)(status, headers, body);
  const method = o.method ?? '-';
  const path = (o.path ?? '-').slice(0, MAX_PATH);
  d.metrics.answered({ kind: 'unknown', status, code, seconds: 0 });
  d.logger.info(
    {
      method,
      kind: 'unknown',
      status,
      code,
      client: ANONYMOUS.id,
      address,
      path,
      parser: o.parser,
    },
    'request',
  );
  d.access.record({
    ctx: {
      requestId: id,
      identity: { ...ANONYMOUS, groups: [] },
      address,
      startedAt: Date.now(),
      signal: AbortSignal.abort(),
    },
    kind: 'unknown',
    method,
    path,
    status,
    code,
  });
}
