import { asModgateError, type ModgateError } from '../errors.js';

/**
 * The only place where error codes become HTTP statuses. Integrity refusals are
 * 403 or 502, never 404/410, so a client's GOPROXY fallback cannot route around
 * them.
 */
const STATUS: Record<string, number> = {
  REQUEST_INVALID: 400,
  AUTH_REQUIRED: 401,
  AUTH_INVALID: 401,
  CHECKSUM_MISMATCH: 403,
  POLICY_DENIED: 403,
  POLICY_ERROR: 403,
  SUMDB_NOT_FOUND: 403,
  UPSTREAM_NOT_FOUND: 404,
  UPSTREAM_NONE: 404,
  NOT_FOUND: 404,
  // A private module's lookup is answered here, as if the database had no such record.
  PRIVATE_LOOKUP_REFUSED: 404,
  REQUEST_TIMEOUT: 504,
  UPSTREAM_GONE: 410,
  UPSTREAM_TIMEOUT: 504,
  AUDIT_UNAVAILABLE: 503,
  STORAGE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  OVERLOADED: 503,
  CACHE_TAMPERED: 503,
  TOFU_TAMPERED: 403,
};

const PREFIX_STATUS: Array<[string, number]> = [
  ['ZIP_', 502],
  ['SUMDB_', 502],
  ['NOTE_', 502],
  ['TLOG_', 502],
  ['UPSTREAM_', 502],
  ['INFO_', 502],
  ['MOD_', 502],
];

export function statusFor(err: ModgateError): number {
  const direct = STATUS[err.code];
  if (direct) return direct;
  for (const [prefix, status] of PREFIX_STATUS) if (err.code.startsWith(prefix)) return status;
  return 500;
}

/**
 * The plain-text body the go command will show. It prints such a body only if
 * it is UTF-8 without control characters, and only up to the first blank line,
 * 8 lines or 648 bytes: the essentials come first, one per line.
 */
export function errorBody(err: ModgateError): string {
  const text =
    err.code === 'CHECKSUM_MISMATCH' ||
    err.code === 'POLICY_DENIED' ||
    err.code === 'TOFU_TAMPERED' ||
    err.code === 'CACHE_TAMPERED'
      ? err.message
      : `${err.code}: ${err.message}`;
  const head = err.code === 'POLICY_DENIED' ? 'modgate policy denied this request:\n' : '';
  const clean = (head + text)
    .replace(/[^\P{Cc}\n]/gu, ' ')
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .join('\n');
  return `${clean}\n`;
}

export function toHttpError(err: unknown): { status: number; body: string; error: ModgateError } {
  const e = asModgateError(err);
  const status = statusFor(e);
  return {
    status,
    body: status === 500 ? 'INTERNAL: modgate hit an internal error; see its log\n' : errorBody(e),
    error: e,
  };
}
