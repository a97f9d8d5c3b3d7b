/**
 * Client tokens. The configuration stores only SHA-256 digests (hex) of
 * tokens; a presented token is hashed and compared against every digest in
 * constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ModgateError } from '../errors.js';

export interface TokenEntry {
  id: string;
  /** Hex SHA-256 of the token's UTF-8 bytes, as printed by hashToken. */
  sha256: string;
  groups: string[];
  /** Roles of the token's identity (auditor, admin); none when absent. */
  roles?: string[];
}

export interface TokenTable {
  entries: ReadonlyArray<TokenEntry & { digest: Buffer }>;
}

const HEX64 = /^[0-9a-f]{64}$/i;
const ID_RE = /^[A-Za-z0-9._@+-]{1,128}$/;
export const TOKEN_PREFIX = 'mgt_';

/** A new random token: `mgt_` + 43 base64url characters (256 bits). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Hex SHA-256 of the token, the form stored in the configuration. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Validates configured tokens (hex digests, unique ids and digests); throws AUTH_CONFIG_INVALID. */
export function buildTokenTable(tokens: readonly TokenEntry[]): TokenTable {
  const ids = new Set<string>();
  const digests = new Set<string>();
  const entries = tokens.map((t, i) => {
    const where = `auth.tokens[${i}]`;
    if (!ID_RE.test(t.id))
      throw new ModgateError(
        'AUTH_CONFIG_INVALID',
        `${where}.id must be 1-128 of A-Z a-z 0-9 . _ @ + -`,
        { index: i },
      );
    if (!HEX64.test(t.sha256))
      throw new ModgateError(
        'AUTH_CONFIG_INVALID',
        `${where}.sha256 must be 64 hex digits (see hashToken)`,
        { index: i, id: t.id },
      );
    const hex = t.sha256.toLowerCase();
    if (ids.has(t.id))
      throw new ModgateError('AUTH_CONFIG_INVALID', `${where}.id ${t.id} is used twice`, {
        index: i,
        id: t.id,
      });
    if (digests.has(hex))
      throw new ModgateError('AUTH_CONFIG_INVALID', `${where} repeats the token of another entry`, {
        index: i,
        id: t.id,
      });
    ids.add(t.id);
    digests.add(hex);
    return {
      id: t.id,
      sha256: hex,
      groups: [...t.groups],
      roles: [...(t.roles ?? [])],
      digest: Buffer.from(hex, 'hex'),
    };
  });
  return { entries };
}

/**
 * The entry whose digest equals sha256(token), or undefined. Every entry is
 * compared with timingSafeEqual and the loop never exits early, so timing
 * reveals neither which entry matched nor how much of a digest did.
 */
export function findToken(table: TokenTable, token: string): TokenEntry | undefined {
  const digest = createHash('sha256').update(token, 'utf8').digest();
  let found: TokenEntry | undefined;
  for (const e of table.entries) {
    if (timingSafeEqual(digest, e.digest) && !found) found = e;
  }
  return found;
}
