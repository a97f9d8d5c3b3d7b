import { asModgateError, ModgateError, type ErrorCode } from '../errors.js';

/**
 * The only place where error codes become HTTP statuses. The table is total:
 * a new code without a status does not compile. Integrity refusals are 403 or
 * 502, never 404/410, so a client's GOPROXY fallback cannot route around
 * them. Codes raised only at start-up or by the CLI are 500 should one ever
 * reach a request (the body then hides the message).
 */
const STATUS: Readonly<Record<ErrorCode, number>> = {
  // zip
  ZIP_TOO_MANY_FILES: 502,
  ZIP_TOO_LARGE: 502,
  ZIP_UNCOMPRESSED_TOO_LARGE: 502,
  ZIP_FILE_TOO_LARGE: 502,
  ZIP_PATH_PREFIX: 502,
  ZIP_PATH_INVALID: 502,
  ZIP_DUPLICATE: 502,
  ZIP_CASE_COLLISION: 502,
  ZIP_FILE_DIR_CONFLICT: 502,
  ZIP_GOMOD_NOT_ROOT: 502,
  ZIP_GOMOD_CASE: 502,
  ZIP_INVALID: 502,
  // module
  MODULE_PATH_INVALID: 500,
  IMPORT_PATH_INVALID: 500,
  FILE_PATH_INVALID: 500,
  VERSION_INVALID: 500,
  HASH_NAME_INVALID: 500,
  CHECKSUM_MISMATCH: 403,
  TOFU_TAMPERED: 403,
  // log
  NOTE_KEY_INVALID: 502,
  NOTE_KEY_AMBIGUOUS: 502,
  NOTE_MALFORMED: 502,
  NOTE_KEY_MISMATCH: 502,
  NOTE_BAD_SIGNATURE: 502,
  NOTE_UNVERIFIED: 502,
  TLOG_MALFORMED_TREE: 502,
  TLOG_MALFORMED_RECORD: 502,
  TLOG_MALFORMED_HASH: 502,
  TLOG_INVALID_INPUT: 502,
  TLOG_BAD_TILE_PATH: 502,
  TLOG_BAD_TILE: 502,
  TLOG_BAD_READER: 502,
  TLOG_BAD_PROOF: 502,
  // sumdb
  SUMDB_NOT_FOUND: 403,
  SUMDB_FORK: 502,
  SUMDB_BAD_PROOF: 502,
  SUMDB_BAD_TILE: 502,
  SUMDB_BAD_RESPONSE: 502,
  SUMDB_BAD_REQUEST: 502,
  SUMDB_UNAVAILABLE: 502,
  SUMDB_STORE_PATH: 502,
  SUMDB_OFF: 502,
  GOSUMDB_INVALID: 500,
  // A private module's lookup is answered here, as if the database had no such record.
  PRIVATE_LOOKUP_REFUSED: 404,
  SUMDB_STATE_INVALID: 502,
  // upstream
  UPSTREAM_NOT_FOUND: 404,
  UPSTREAM_GONE: 410,
  UPSTREAM_NONE: 404,
  UPSTREAM_BAD_STATUS: 502,
  UPSTREAM_UNAVAILABLE: 502,
  UPSTREAM_TIMEOUT: 504,
  UPSTREAM_TOO_LARGE: 502,
  UPSTREAM_PIN_MISMATCH: 502,
  UPSTREAM_UNPINNED: 502,
  UPSTREAM_INSECURE: 502,
  UPSTREAM_LIST_INVALID: 502,
  UPSTREAM_IS_SELF: 502,
  INFO_INVALID: 502,
  UPSTREAM_BAD_RESPONSE: 502,
  UPSTREAM_REDIRECT: 502,
  // version control (vcs routes)
  VCS_AUTH_FAILED: 403,
  VCS_TIMEOUT: 504,
  VCS_TOO_LARGE: 502,
  VCS_FAILED: 502,
  // policy
  POLICY_DENIED: 403,
  VULNDB_INVALID: 502,
  VULNDB_ROLLBACK: 502,
  VULNDB_UNAVAILABLE: 503,
  VULNDB_NOT_LOADED: 503,
  POLICY_ERROR: 403,
  POLICY_LOAD_FAILED: 500,
  POLICY_DATA_INVALID: 500,
  GOSUM_INVALID: 500,
  GOMOD_INVALID: 500,
  OPA_UNAVAILABLE: 500,
  // audit
  AUDIT_UNAVAILABLE: 503,
  AUDIT_CLOSED: 500,
  AUDIT_CORRUPT: 500,
  AUDIT_KEY_INVALID: 500,
  AUDIT_KEY_INSECURE: 500,
  AUDIT_KEY_MISMATCH: 500,
  AUDIT_CHECKPOINT_INVALID: 500,
  AUDIT_RECORD_INVALID: 500,
  AUDIT_QUERY_INVALID: 500,
  AUDIT_SHIP_FAILED: 500,
  AUDIT_DIR_MISSING: 500,
  AUDIT_DIR_UNREADABLE: 500,
  AUDIT_VERIFIER_KEY_MISSING: 500,
  AUDIT_KEY_UNREADABLE: 500,
  AUDIT_REPLICA_BUSY: 503,
  AUDIT_DB_UNREADABLE: 500,
  // config
  CONFIG_INVALID: 500,
  CONFIG_UNREADABLE: 500,
  FILE_UNREADABLE: 500,
  LISTEN_FAILED: 500,
  WORKERS_FAILED: 500,
  STATE_KEY_INVALID: 500,
  USAGE: 400,
  // tls
  TLS_FILES_INVALID: 500,
  TLS_KEY_MISMATCH: 500,
  TLS_CERT_EXPIRED: 500,
  CERTS_HOST_INVALID: 500,
  CERT_INVALID: 500,
  PIN_INVALID: 500,
  PINS_URL_INVALID: 500,
  PINS_FETCH_FAILED: 500,
  // http
  REQUEST_INVALID: 400,
  REQUEST_MALFORMED: 400,
  REQUEST_HEADERS_TOO_LARGE: 431,
  REQUEST_HEADERS_TIMEOUT: 408,
  REQUEST_EXPECTATION_FAILED: 417,
  REQUEST_TOO_LARGE: 413,
  REQUEST_MEDIA_TYPE_UNSUPPORTED: 415,
  NOT_FOUND: 404,
  CLIENT_GONE: 500,
  SHUTTING_DOWN: 503,
  OVERLOADED: 503,
  REQUEST_TIMEOUT: 504,
  AUTH_REQUIRED: 401,
  AUTH_INVALID: 401,
  AUTH_CONFIG_INVALID: 500,
  ROLE_REQUIRED: 403,
  CONSOLE_QUERY_INVALID: 400,
  CONSOLE_UNAVAILABLE: 503,
  // storage
  STORAGE_UNAVAILABLE: 503,
  CACHE_TAMPERED: 503,
  STORAGE_BAD_KEY: 500,
  // state
  STATE_UNAVAILABLE: 503,
  STATE_SCHEMA_NEWER: 500,
  // prefetch
  PREFETCH_INPUT_INVALID: 500,
  PREFETCH_SUMMARY_INVALID: 500,
  EXPORT_INVALID: 500,
  DATA_DIR_BUSY: 500,
  // internal
  INTERNAL: 500,
};

export function statusFor(err: ModgateError): number {
  // A code forged at run time (a cast, or JavaScript) is an internal error.
  return STATUS[err.code] ?? 500;
}

/**
 * fastify's own refusals of a request (a body its parsers reject, too large,
 * of an unknown type: errors with a 4xx statusCode) keep their meaning;
 * anything else not a ModgateError is internal.
 */
function requestErrorCode(err: unknown): ErrorCode {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (err instanceof ModgateError || typeof status !== 'number' || status < 400 || status > 499)
    return 'INTERNAL';
  if (status === 413) return 'REQUEST_TOO_LARGE';
  if (status === 415) return 'REQUEST_MEDIA_TYPE_UNSUPPORTED';
  if (status === 404) return 'NOT_FOUND';
  return 'REQUEST_INVALID';
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
  const e = asModgateError(err, requestErrorCode(err));
  const status = statusFor(e);
  return {
    status,
    body: status === 500 ? 'INTERNAL: modgate hit an internal error; see its log\n' : errorBody(e),
    error: e,
  };
}
