import type { ErrorCode } from './codes.js';

/**
 * The details each code carries, where it carries any. The shapes are written
 * out here (not imported) so that this stays a leaf every room can import.
 * Details reach logs, security events and audit records, so they hold names,
 * numbers and hashes, never secrets.
 */

/** One file that x/mod's zip rules refuse (CheckedFiles.Invalid). */
type InvalidFile = {
  readonly path: string;
  readonly code: string;
  readonly err: string;
};

/** A module path refused by CheckPath/CheckImportPath/CheckFilePath, or a bad escape. */
type PathDetails =
  { readonly path: string; readonly reason: string } | { readonly escaped: string };

type UpstreamNotFound = { readonly status?: number; readonly upstream?: string };

export interface DetailsByCode {
  ZIP_TOO_MANY_FILES: {
    readonly maxFiles?: number;
    readonly limit?: number;
    readonly entries?: number;
    readonly directoryBytes?: number;
  };
  ZIP_TOO_LARGE: { readonly size: number };
  ZIP_PATH_PREFIX: { readonly invalid: readonly InvalidFile[] };
  ZIP_PATH_INVALID: { readonly invalid: readonly InvalidFile[] };
  ZIP_DUPLICATE: { readonly invalid: readonly InvalidFile[] };
  ZIP_CASE_COLLISION: { readonly invalid: readonly InvalidFile[] };
  ZIP_FILE_DIR_CONFLICT: { readonly invalid: readonly InvalidFile[] };
  ZIP_GOMOD_NOT_ROOT: { readonly invalid: readonly InvalidFile[] };
  ZIP_GOMOD_CASE: { readonly invalid: readonly InvalidFile[] };
  ZIP_FILE_TOO_LARGE: { readonly invalid: readonly InvalidFile[] };

  MODULE_PATH_INVALID: PathDetails;
  IMPORT_PATH_INVALID: PathDetails;
  FILE_PATH_INVALID: PathDetails;
  VERSION_INVALID: {
    readonly version?: string;
    readonly path?: string;
    readonly reason?: string;
    readonly escaped?: string;
  };
  HASH_NAME_INVALID: { readonly name: string };
  /** The ledger or database's hash against the fetched bytes' hash. */
  CHECKSUM_MISMATCH:
    | {
        readonly module: string;
        readonly version: string;
        readonly kind: string;
        readonly expected: string;
        readonly actual: string;
        readonly source: string;
      }
    | {
        readonly module: string;
        readonly version: string;
        readonly want: string | undefined;
        readonly got: string;
        readonly source: string;
      };

  NOTE_BAD_SIGNATURE: { readonly key: string };
  NOTE_UNVERIFIED: { readonly unverified: ReadonlyArray<{ readonly name: string }> };

  SUMDB_BAD_PROOF: { readonly recordId: number; readonly treeSize: number };
  SUMDB_FORK: {
    readonly olderNote: string;
    readonly newerNote: string;
    readonly evidence: { readonly name: string; readonly detectedAt: string };
  };
  /** The code of the failure underneath, when it was a ModgateError. */
  SUMDB_UNAVAILABLE: {
    readonly upstreamCode?: ErrorCode;
    readonly upstream?: string;
    /** The upstream failure's own details, carried along. */
    readonly [key: string]: unknown;
  };

  UPSTREAM_NOT_FOUND: UpstreamNotFound;
  UPSTREAM_GONE: UpstreamNotFound;
  UPSTREAM_BAD_STATUS: {
    readonly upstream: string;
    readonly status?: number;
    readonly retryable?: boolean;
    readonly retryAfterSeconds?: string | string[];
  };
  UPSTREAM_UNAVAILABLE: { readonly upstream?: string; readonly retryable?: boolean };
  /** deadline: the total deadline fired; deadlineMs: shared work's own deadline. */
  UPSTREAM_TIMEOUT: {
    readonly upstream?: string;
    readonly retryable?: boolean;
    readonly deadline?: boolean;
    readonly deadlineMs?: number;
  };
  UPSTREAM_TOO_LARGE: { readonly max: number };

  /** route: the vcs route's pattern; never a URL with credentials or a secret. */
  VCS_AUTH_FAILED: { readonly route: string };
  VCS_TIMEOUT: { readonly route: string; readonly timeoutMs: number };
  VCS_TOO_LARGE: { readonly route: string };
  VCS_FAILED: { readonly route: string };
  UPSTREAM_PIN_MISMATCH: {
    readonly host: string;
    readonly expected: readonly string[];
    readonly seen: readonly string[];
    readonly upstream?: string;
  };
  UPSTREAM_UNPINNED: { readonly host: string };
  UPSTREAM_INSECURE: { readonly origin: string };

  POLICY_DENIED: {
    readonly status?: number;
    readonly reasons?: ReadonlyArray<{ readonly code: string; readonly message: string }>;
  };

  /** The errno code (ENOSPC, EIO, ...) when the file system refused. */
  AUDIT_UNAVAILABLE: { readonly cause?: string; readonly replica?: string };
  AUDIT_CORRUPT: {
    readonly replica?: string;
    readonly segment?: string;
    readonly segments?: readonly string[];
    readonly offset?: number;
    readonly seq?: number;
    readonly checkpoint?: number;
  };
  AUDIT_KEY_INVALID: { readonly file: string };
  AUDIT_KEY_INSECURE: { readonly file: string };
  AUDIT_SHIP_FAILED: { readonly seq: number };
  AUDIT_REPLICA_BUSY: { readonly replica: string };

  CONFIG_INVALID: { readonly violations?: readonly string[] };

  TLS_FILES_INVALID: { readonly file: string };
  TLS_KEY_MISMATCH: { readonly certFile: string; readonly keyFile: string };
  TLS_CERT_EXPIRED: { readonly certFile: string; readonly notAfter: string };
  CERTS_HOST_INVALID: { readonly host: string };
  CERT_INVALID: { readonly file?: string };
  PIN_INVALID: { readonly pin: string };
  PINS_URL_INVALID: { readonly url: string };
  PINS_FETCH_FAILED: { readonly host: string; readonly port: number };

  REQUEST_INVALID: { readonly path?: string };
  /** How the client tried to authenticate. */
  AUTH_INVALID: { readonly method?: 'basic' | 'bearer' | 'mtls' };
  AUTH_CONFIG_INVALID: { readonly index: number; readonly id?: string };
}

/** Declare a code's details as NoDetails when it must carry none. */
export type NoDetails = { readonly [key: string]: never };

/**
 * The details of code C. For a union of codes (an error caught without
 * narrowing its code) they are the union of those codes' details: narrow with
 * isModgateError(err, code) or an `in` check before reading a field.
 */
export type ErrorDetails<C extends ErrorCode> = C extends keyof DetailsByCode
  ? DetailsByCode[C]
  : AnyDetails;

/**
 * Details of a code without a declared shape (declare one above to have them
 * checked); also how a field a code does not declare reads: unknown.
 */
export type AnyDetails = { readonly [key: string]: unknown };

/**
 * What the constructor takes: the code's details, or for a code known only
 * as the whole union (re-raising a caught error's code) any details.
 */
export type DetailsParam<C extends ErrorCode> = [ErrorCode] extends [C]
  ? AnyDetails
  : ErrorDetails<C>;
