/**
 * Every error code modgate can raise, one list per family. A code outside
 * these lists does not compile, and the status table in src/http/errors.ts
 * must name each one (docs/errors.md documents each one; test/docs.test.ts
 * checks both). To add a code, append it to its family's list.
 */

/** Module zips (x/mod's zip rules and the zip reader). */
export const ZIP_CODES = [
  'ZIP_TOO_MANY_FILES',
  'ZIP_TOO_LARGE',
  'ZIP_UNCOMPRESSED_TOO_LARGE',
  'ZIP_FILE_TOO_LARGE',
  'ZIP_PATH_PREFIX',
  'ZIP_PATH_INVALID',
  'ZIP_DUPLICATE',
  'ZIP_CASE_COLLISION',
  'ZIP_FILE_DIR_CONFLICT',
  'ZIP_GOMOD_NOT_ROOT',
  'ZIP_GOMOD_CASE',
  'ZIP_INVALID',
] as const;

/** Module paths, versions and hashes (x/mod's module and dirhash rules). */
export const MODULE_CODES = [
  'MODULE_PATH_INVALID',
  'IMPORT_PATH_INVALID',
  'FILE_PATH_INVALID',
  'VERSION_INVALID',
  'HASH_NAME_INVALID',
  'CHECKSUM_MISMATCH',
  'TOFU_TAMPERED',
] as const;

/** Signed notes and transparency-log trees and tiles (x/mod's note and tlog). */
export const LOG_CODES = [
  'NOTE_KEY_INVALID',
  'NOTE_KEY_AMBIGUOUS',
  'NOTE_MALFORMED',
  'NOTE_KEY_MISMATCH',
  'NOTE_BAD_SIGNATURE',
  'NOTE_UNVERIFIED',
  'TLOG_MALFORMED_TREE',
  'TLOG_MALFORMED_RECORD',
  'TLOG_MALFORMED_HASH',
  'TLOG_INVALID_INPUT',
  'TLOG_BAD_TILE_PATH',
  'TLOG_BAD_TILE',
  'TLOG_BAD_READER',
  'TLOG_BAD_PROOF',
] as const;

/** The checksum database: its client, its store and its relay. */
export const SUMDB_CODES = [
  'SUMDB_NOT_FOUND',
  'SUMDB_FORK',
  'SUMDB_BAD_PROOF',
  'SUMDB_BAD_TILE',
  'SUMDB_BAD_RESPONSE',
  'SUMDB_BAD_REQUEST',
  'SUMDB_UNAVAILABLE',
  'SUMDB_STORE_PATH',
  'SUMDB_OFF',
  'GOSUMDB_INVALID',
  'PRIVATE_LOOKUP_REFUSED',
  'SUMDB_STATE_INVALID',
] as const;

/** Upstream proxies: the proxy list, the pinned client and what they answer. */
export const UPSTREAM_CODES = [
  'UPSTREAM_NOT_FOUND',
  'UPSTREAM_GONE',
  'UPSTREAM_NONE',
  'UPSTREAM_BAD_STATUS',
  'UPSTREAM_UNAVAILABLE',
  'UPSTREAM_TIMEOUT',
  'UPSTREAM_TOO_LARGE',
  'UPSTREAM_PIN_MISMATCH',
  'UPSTREAM_UNPINNED',
  'UPSTREAM_INSECURE',
  'UPSTREAM_LIST_INVALID',
  'UPSTREAM_IS_SELF',
  'INFO_INVALID',
  'UPSTREAM_BAD_RESPONSE',
  'UPSTREAM_REDIRECT',
] as const;

/** Policy loading and evaluation, and the pre-flight's inputs. */
export const POLICY_CODES = [
  'POLICY_DENIED',
  'POLICY_ERROR',
  'POLICY_LOAD_FAILED',
  'POLICY_DATA_INVALID',
  'GOSUM_INVALID',
  'GOMOD_INVALID',
  'OPA_UNAVAILABLE',
] as const;

/** The vulnerability database (its sync, its index, its mirror) and license identification. */
export const VULN_CODES = [
  'VULNDB_INVALID',
  'VULNDB_ROLLBACK',
  'VULNDB_UNAVAILABLE',
  'VULNDB_NOT_LOADED',
] as const;

/** The audit trail: log, checkpoints, keys, shipping and queries. */
export const AUDIT_CODES = [
  'AUDIT_UNAVAILABLE',
  'AUDIT_CLOSED',
  'AUDIT_CORRUPT',
  'AUDIT_KEY_INVALID',
  'AUDIT_KEY_INSECURE',
  'AUDIT_KEY_MISMATCH',
  'AUDIT_CHECKPOINT_INVALID',
  'AUDIT_RECORD_INVALID',
  'AUDIT_QUERY_INVALID',
  'AUDIT_SHIP_FAILED',
  'AUDIT_DIR_MISSING',
  'AUDIT_DIR_UNREADABLE',
  'AUDIT_VERIFIER_KEY_MISSING',
  'AUDIT_KEY_UNREADABLE',
  'AUDIT_REPLICA_BUSY',
  'AUDIT_DB_UNREADABLE',
] as const;

/** Configuration, files named on the command line, and starting up. */
export const CONFIG_CODES = [
  'CONFIG_INVALID',
  'CONFIG_UNREADABLE',
  'FILE_UNREADABLE',
  'LISTEN_FAILED',
  'STATE_KEY_INVALID',
  'USAGE',
  'WORKERS_FAILED',
] as const;

/** Certificates, pins and the gateway's own TLS. */
export const TLS_CODES = [
  'TLS_FILES_INVALID',
  'TLS_KEY_MISMATCH',
  'TLS_CERT_EXPIRED',
  'CERTS_HOST_INVALID',
  'CERT_INVALID',
  'PIN_INVALID',
  'PINS_URL_INVALID',
  'PINS_FETCH_FAILED',
] as const;

/** Requests and their lifetime, and authentication. */
export const HTTP_CODES = [
  'REQUEST_INVALID',
  'REQUEST_MALFORMED',
  'REQUEST_HEADERS_TOO_LARGE',
  'REQUEST_HEADERS_TIMEOUT',
  'REQUEST_EXPECTATION_FAILED',
  'REQUEST_TOO_LARGE',
  'REQUEST_MEDIA_TYPE_UNSUPPORTED',
  'NOT_FOUND',
  'CLIENT_GONE',
  'SHUTTING_DOWN',
  'REQUEST_TIMEOUT',
  'OVERLOADED',
  'AUTH_REQUIRED',
  'AUTH_INVALID',
  'AUTH_CONFIG_INVALID',
  'ROLE_REQUIRED',
  'CONSOLE_QUERY_INVALID',
  'CONSOLE_UNAVAILABLE',
] as const;

/** Version control behind a vcs route (src/vcs): the go command and git. */
export const VCS_CODES = ['VCS_AUTH_FAILED', 'VCS_TIMEOUT', 'VCS_TOO_LARGE', 'VCS_FAILED'] as const;

/** The artifact cache. */
export const STORAGE_CODES = ['STORAGE_UNAVAILABLE', 'STORAGE_BAD_KEY', 'CACHE_TAMPERED'] as const;

/** The shared state of replicas (tree heads, fork evidence, TOFU, leases). */
export const STATE_CODES = ['STATE_UNAVAILABLE', 'STATE_SCHEMA_NEWER'] as const;

/** Prefetching through a gateway, exports for air-gapped sites and their import. */
export const PREFETCH_CODES = [
  'PREFETCH_INPUT_INVALID',
  'PREFETCH_SUMMARY_INVALID',
  'EXPORT_INVALID',
  'DATA_DIR_BUSY',
] as const;

/** Anything thrown that was not a ModgateError. */
export const INTERNAL_CODES = ['INTERNAL'] as const;

export type ZipCode = (typeof ZIP_CODES)[number];
export type ModuleCode = (typeof MODULE_CODES)[number];
export type LogCode = (typeof LOG_CODES)[number];
export type SumdbCode = (typeof SUMDB_CODES)[number];
/** Everything the integrity room (src/integrity) raises. */
export type IntegrityCode = ZipCode | ModuleCode | LogCode | SumdbCode;
export type UpstreamCode = (typeof UPSTREAM_CODES)[number];
export type VcsCode = (typeof VCS_CODES)[number];
export type PolicyCode = (typeof POLICY_CODES)[number];
export type VulnCode = (typeof VULN_CODES)[number];
export type AuditCode = (typeof AUDIT_CODES)[number];
export type ConfigCode = (typeof CONFIG_CODES)[number];
export type TlsCode = (typeof TLS_CODES)[number];
export type HttpCode = (typeof HTTP_CODES)[number];
export type StorageCode = (typeof STORAGE_CODES)[number];
export type StateCode = (typeof STATE_CODES)[number];
export type PrefetchCode = (typeof PREFETCH_CODES)[number];
export type InternalCode = (typeof INTERNAL_CODES)[number];

export type ErrorCode =
  | IntegrityCode
  | UpstreamCode
  | VcsCode
  | PolicyCode
  | VulnCode
  | AuditCode
  | ConfigCode
  | TlsCode
  | HttpCode
  | StorageCode
  | StateCode
  | PrefetchCode
  | InternalCode;

/** The families by name, for docs and tests. */
export const ERROR_FAMILIES = {
  zip: ZIP_CODES,
  module: MODULE_CODES,
  log: LOG_CODES,
  sumdb: SUMDB_CODES,
  upstream: UPSTREAM_CODES,
  vcs: VCS_CODES,
  policy: POLICY_CODES,
  vuln: VULN_CODES,
  audit: AUDIT_CODES,
  config: CONFIG_CODES,
  tls: TLS_CODES,
  http: HTTP_CODES,
  storage: STORAGE_CODES,
  state: STATE_CODES,
  prefetch: PREFETCH_CODES,
  internal: INTERNAL_CODES,
} as const satisfies Record<string, readonly ErrorCode[]>;

/** Every code, each once. */
export const ERROR_CODES: readonly ErrorCode[] = Object.values(ERROR_FAMILIES).flat();

const KNOWN: ReadonlySet<string> = new Set(ERROR_CODES);

/** True for a code modgate defines (e.g. one read back from an audit record). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && KNOWN.has(code);
}
