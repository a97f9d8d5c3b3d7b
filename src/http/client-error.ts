/**
 * Requests Node's HTTP/1 parser refuses before any route or hook sees them
 * (a garbled request line, bad header syntax or chunked framing, headers too
 * large or too slow): answered here in plain text with a stable code, counted,
 * logged and given an access record like every other answer, then the
 * connection is closed. A connection reset is no request and is not recorded.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ANONYMOUS } from '../auth/authenticate.js';
import { ModgateError, type ErrorCode } from '../errors.js';
import { statusFor } from './errors.js';
import type { FinishDeps } from './finish.js';

const MESSAGE: Partial<Record<ErrorCode, string>> = {
  REQUEST_MALFORMED: 'the HTTP request could not be parsed',
  REQUEST_HEADERS_TOO_LARGE: 'the request headers are larger than the server accepts',
  REQUEST_HEADERS_TIMEOUT: 'the request headers did not arrive in time',
};

/** The code for a parser or timeout error, or undefined for a connection error (no request). */
export function clientErrorCode(err: { code?: string }): ErrorCode | undefined {
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'REQUEST_HEADERS_TOO_LARGE';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'REQUEST_HEADERS_TIMEOUT';
  if (err.code?.startsWith('HPE_')) return 'REQUEST_MALFORMED';
  return undefined;
}

export function clientErrorHandler(d: FinishDeps & { logger: Logger }) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    const code = clientErrorCode(err);
    if (!code) {
      socket.destroy();
      return;
    }
    const status = statusFor(new ModgateError(code, ''));
    const id = randomUUID();
    const body = `${code}: ${MESSAGE[code]}\n`;
    // An answer to an earlier request on this connection may be under way: nothing is written into it.
    const busy = (socket as { _httpMessage?: unknown })._httpMessage !== undefined;
    if (socket.writable && !busy)
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\n` +
          `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `x-request-id: ${id}\r\n\r\n${body}`,
      );
    socket.destroy();
    const address = socket.remoteAddress ?? '';
    d.metrics.answered({ kind: 'unknown', status, code, seconds: 0 });
    d.logger.info(
      {
        method: '-',
        kind: 'unknown',
        status,
        code,
        client: ANONYMOUS.id,
        address,
        parser: err.code,
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
      method: '-',
      path: '-',
      status,
      code,
    });
  };
}
