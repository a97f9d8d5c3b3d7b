/**
 * Audit record shapes and the hash chain that links them.
 *
 * Every record carries `seq` (1-based, gapless) and `prev`, the SHA-256 hex of
 * the previous record's canonical bytes (RFC 8785 JSON canonicalization). The
 * first record of a log has `prev` = 64 zeros. Lines on disk are exactly the
 * canonical bytes of the record followed by "\n".
 */
import { createHash } from 'node:crypto';
import { ModgateError } from '../errors.js';

/**
 * RFC 8785 (JCS) canonical JSON: object keys sorted by UTF-16 code units at
 * every level, and primitives serialized exactly as JSON.stringify does
 * (which JCS adopts for strings and numbers). Non-finite numbers are refused.
 * Equivalent to the canonicalize package (checked in test/audit/records.test.ts)
 * and several times faster on the hot path of every request.
 */
export function canonicalJson(value: unknown): string {
  // Fast path: rebuild objects with sorted keys and let JSON.stringify do the rest.
  // Integer-like keys would be reordered by the engine, so they take the slow path.
  const sorted = sortKeys(value);
  if (sorted !== INTEGER_KEY) return JSON.stringify(sorted);
  const out = serialize(value);
  if (out === undefined) throw new Error('cannot canonicalize undefined');
  return out;
}

const INTEGER_KEY = Symbol('integer-like key');
const INTEGER_LIKE = /^(?:0|[1-9]\d*)$/;

function sortKeys(v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`cannot canonicalize ${v}`);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) {
      const x = sortKeys(v[i]);
      if (x === INTEGER_KEY) return INTEGER_KEY;
      out[i] = x;
    }
    return out;
  }
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return INTEGER_KEY;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const c = k.charCodeAt(0);
    if (c >= 48 && c <= 57 && INTEGER_LIKE.test(k)) return INTEGER_KEY;
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
    const y = sortKeys(x);
    if (y === INTEGER_KEY) return INTEGER_KEY;
    out[k] = y;
  }
  return out;
}

function serialize(v: unknown): string | undefined {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot canonicalize ${v}`);
    return JSON.stringify(v);
  }
  if (typeof v !== 'object') return undefined;
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function')
    return serialize((v as { toJSON(): unknown }).toJSON());
  if (Array.isArray(v)) return `[${v.map((x) => serialize(x) ?? 'null').join(',')}]`;
  const parts: string[] = [];
  // Keys are built with string concatenation, not object insertion: JS orders integer-like keys first.
  for (const k of Object.keys(v).sort()) {
    const x = serialize((v as Record<string, unknown>)[k]);
    if (x !== undefined) parts.push(`${JSON.stringify(k)}:${x}`);
  }
  return `{${parts.join(',')}}`;
}

export const ZERO_HASH = '0'.repeat(64);
/** Largest canonical record accepted (bytes, without the newline). */
export const MAX_RECORD_BYTES = 1 << 20;

export type Decision = 'allow' | 'deny' | 'warn' | 'not_found';

export interface SumdbEvidence {
  name: string;
  treeSize: number;
  rootHash: string;
  recordId: number;
}

export interface Evidence {
  h1?: string;
  zipSha256?: string;
  sumdb?: SumdbEvidence;
  tofu?: boolean;
  /** Licenses found in the zip: the SPDX expression ("" when unknown) and each file's id. */
  licenses?: { expression: string; unknown: boolean; files: Array<{ path: string; spdx: string }> };
}

export interface DecisionEntry {
  type: 'decision';
  time: string;
  requestId: string;
  /** The client's X-Request-Id, kept apart from modgate's own id. */
  clientRequestId?: string;
  client: { id: string; method: string; groups: string[]; address: string };
  kind: string;
  module: string;
  version?: string;
  decision: Decision;
  codes: string[];
  policyRevision: string;
  dataRevision?: string;
  cache: 'hit' | 'miss';
  upstream?: string;
  evidence?: Evidence;
  /** `preflight` for `modgate policy check` traffic; absent for builds. */
  purpose?: string;
}

export interface CompletionEntry {
  type: 'completion';
  time?: string;
  requestId: string;
  outcome: string;
  bytes: number;
  durationMs: number;
  status: number;
}

/**
 * An answer no decision record covers (401, 403 from authentication, 400, 404,
 * checksum-database relay, metrics and readiness reads). `count` > 1 is one
 * aggregated record for answers of one client address, code and second.
 */
export interface AccessEntry {
  type: 'access';
  time?: string;
  requestId: string;
  purpose?: string;
  clientRequestId?: string;
  client: { id: string; method: string; groups: string[]; address: string };
  kind: string;
  method: string;
  path: string;
  status: number;
  code?: string;
  module?: string;
  version?: string;
  durationMs: number;
  count: number;
  window?: string;
}

export type SecurityEvent =
  | 'PIN_MISMATCH'
  | 'CHECKSUM_MISMATCH'
  | 'SUMDB_FORK'
  | 'SUMDB_ROLLBACK'
  | 'POLICY_ERROR'
  | 'TOFU_CONFLICT'
  | 'AUDIT_REPAIR'
  | (string & {});

export interface SecurityEntry {
  type: 'security';
  time?: string;
  event: SecurityEvent;
  requestId?: string;
  details: Record<string, unknown>;
}

export type SystemEvent = 'start' | 'stop' | 'repair' | 'retention' | 'checkpoint' | 'recovered';

export interface SystemEntry {
  type: 'system';
  time?: string;
  event: SystemEvent;
  details: Record<string, unknown>;
}

/** What callers hand to AuditLog.append (time defaults to now). */
export type AuditEntry =
  DecisionEntry | CompletionEntry | SecurityEntry | SystemEntry | AccessEntry;

export interface ChainFields {
  seq: number;
  prev: string;
  time: string;
}

/** A record as stored: the entry plus its chain fields. */
export type AuditRecord = AuditEntry & ChainFields;
export type StoredDecision = DecisionEntry & ChainFields;

export const RECORD_TYPES = ['decision', 'completion', 'security', 'system', 'access'] as const;

const HEX64 = /^[0-9a-f]{64}$/;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** RFC 8785 canonical JSON of a record; throws AUDIT_RECORD_INVALID if it cannot be represented. */
export function canonicalRecord(record: object): string {
  let s: string | undefined;
  try {
    s = canonicalJson(record);
  } catch (err) {
    throw new ModgateError(
      'AUDIT_RECORD_INVALID',
      `record is not serializable: ${(err as Error).message}`,
    );
  }
  if (s === undefined || !s.startsWith('{'))
    throw new ModgateError('AUDIT_RECORD_INVALID', 'record must be a JSON object');
  if (s.length * 3 > MAX_RECORD_BYTES && Buffer.byteLength(s) > MAX_RECORD_BYTES) {
    throw new ModgateError('AUDIT_RECORD_INVALID', `record larger than ${MAX_RECORD_BYTES} bytes`);
  }
  return s;
}

/** SHA-256 hex of a record's canonical bytes: the `prev` of the record after it. */
export function recordHash(record: object): string {
  return sha256Hex(canonicalRecord(record));
}

/** Builds the stored record: entry fields plus seq, prev and time. */
export function chainRecord(
  entry: AuditEntry,
  seq: number,
  prev: string,
  now: Date,
): { record: AuditRecord; line: string } {
  if (
    !entry ||
    typeof entry !== 'object' ||
    !(RECORD_TYPES as readonly string[]).includes((entry as { type?: unknown }).type as string)
  ) {
    throw new ModgateError(
      'AUDIT_RECORD_INVALID',
      'record type must be decision, completion, security, system or access',
    );
  }
  const record = { ...entry, time: entry.time ?? now.toISOString(), seq, prev } as AuditRecord;
  const line = canonicalRecord(record);
  return { record, line };
}

/**
 * Parses one stored line into a record, checking the chain fields' shapes.
 * Returns the record and its hash, or a reason string.
 */
export function parseRecordLine(
  line: string,
): { record: AuditRecord; hash: string } | { error: string } {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return { error: 'line is not valid JSON' };
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj))
    return { error: 'line is not a JSON object' };
  const r = obj as Partial<AuditRecord>;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1)
    return { error: 'record has no valid seq' };
  if (typeof r.prev !== 'string' || !HEX64.test(r.prev))
    return { error: 'record has no valid prev' };
  try {
    return { record: r as AuditRecord, hash: recordHash(r) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

export function base64ToHex(b64: string): string {
  return Buffer.from(b64, 'base64').toString('hex');
}
