/**
 * Client authentication: Basic (the password is the token, as written in a
 * go client's .netrc), Bearer token, or a TLS client certificate.
 *
 * | code                | meaning                                                          |
 * |---------------------|------------------------------------------------------------------|
 * | AUTH_REQUIRED       | no credentials while authentication is required                  |
 * | AUTH_INVALID        | unknown token, wrong Basic user, bad header, untrusted client cert |
 * | AUTH_CONFIG_INVALID | a configured token entry is malformed or repeated (tokens.ts)    |
 *
 * Order: an Authorization header, when present, decides alone (a wrong one is
 * AUTH_INVALID even on a connection with a good client certificate). Without
 * it, a client certificate verified by the TLS layer against the configured
 * client CA gives identity `CN`; a certificate that did not verify is
 * AUTH_INVALID. Without either, the result is `anonymous` unless `required`.
 *
 * Basic user names: with `basicUser: 'match'` (the default) the user must be
 * the id of the token's entry, so a .netrc reads
 * `machine gw.example login <id> password <token>`; a token presented under
 * another id is AUTH_INVALID. `'any'` ignores the user name.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ModgateError } from '../errors.js';
import type { Identity } from '../contracts.js';
import { buildTokenTable, findToken, type TokenEntry } from './tokens.js';

export type { Identity } from '../contracts.js';
export { generateToken, hashToken, type TokenEntry } from './tokens.js';

/** The challenge the HTTP layer sends with 401. */
export const WWW_AUTHENTICATE = 'Basic realm="modgate", Bearer realm="modgate"';

export interface AuthOptions {
  tokens: readonly TokenEntry[];
  /** Refuse anonymous requests (AUTH_REQUIRED). */
  required: boolean;
  basicUser?: 'match' | 'any';
  /** Accept TLS client certificates as identity (default true). */
  mtls?: boolean;
  /** Groups of certificate identities by CN; otherwise those of the token entry with that id. */
  clientGroups?: Record<string, string[]>;
  /** Roles of certificate identities by subject CN (auth.subjects). */
  subjectRoles?: Record<string, string[]>;
}

/** The parts of a TLS socket used here (tls.TLSSocket, or http2's socket proxy). */
export interface PeerSocket {
  authorized?: boolean;
  authorizationError?: Error | string | null;
  getPeerCertificate?(
    detailed?: boolean,
  ): { subject?: Record<string, string | string[]> | null; raw?: Buffer } | null;
}

export interface AuthInput {
  headers: IncomingHttpHeaders;
  socket?: PeerSocket | null;
}

const MAX_TOKEN = 1024;
export const ANONYMOUS: Identity = Object.freeze({
  id: 'anonymous',
  method: 'anonymous',
  groups: [] as string[],
}) as Identity;

function invalid(message: string, details: Record<string, unknown> = {}): ModgateError {
  return new ModgateError('AUTH_INVALID', message, details);
}

function parseAuthorization(value: string): {
  method: 'basic' | 'bearer';
  user?: string;
  token: string;
} {
  const m = /^([A-Za-z]+) +(\S+) *$/.exec(value);
  if (!m) throw invalid('malformed Authorization header');
  const scheme = m[1]!.toLowerCase();
  const cred = m[2]!;
  if (scheme === 'bearer') return { method: 'bearer', token: cred };
  if (scheme !== 'basic') throw invalid(`unsupported authorization scheme ${m[1]}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(cred)) throw invalid('malformed Basic credentials');
  const text = Buffer.from(cred, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) throw invalid('malformed Basic credentials');
  return { method: 'basic', user: text.slice(0, colon), token: text.slice(colon + 1) };
}

function commonName(socket: PeerSocket): string | undefined {
  const cn = socket.getPeerCertificate?.(false)?.subject?.CN;
  const v = Array.isArray(cn) ? cn[0] : cn;
  return v && v.length > 0 ? v : undefined;
}

function hasPeerCert(socket: PeerSocket): boolean {
  const c = socket.getPeerCertificate?.(false);
  return !!c && !!c.raw;
}

/** Builds authenticate(input) -> Identity for a fixed configuration (validated once). */
export function createAuthenticator(opts: AuthOptions): (input: AuthInput) => Identity {
  const table = buildTokenTable(opts.tokens);
  const groupsOf = (id: string): string[] => [
    ...(opts.clientGroups?.[id] ?? table.entries.find((e) => e.id === id)?.groups ?? []),
  ];

  return (input: AuthInput): Identity => {
    const header = input.headers.authorization;
    if (header !== undefined) {
      const cred = parseAuthorization(String(header));
      if (cred.token.length === 0 || cred.token.length > MAX_TOKEN)
        throw invalid('empty or oversized token', { method: cred.method });
      const entry = findToken(table, cred.token);
      if (!entry) throw invalid('unknown token', { method: cred.method });
      if (
        cred.method === 'basic' &&
        (opts.basicUser ?? 'match') === 'match' &&
        cred.user !== entry.id
      ) {
        throw invalid('the Basic user name is not the id of this token', { method: 'basic' });
      }
      return {
        id: entry.id,
        method: cred.method,
        groups: [...entry.groups],
        ...(entry.roles?.length ? { roles: [...entry.roles] } : {}),
      };
    }
    const socket = input.socket;
    if (socket && opts.mtls !== false && hasPeerCert(socket)) {
      if (socket.authorized !== true) {
        const why = socket.authorizationError ? String(socket.authorizationError) : 'not verified';
        throw invalid(`client certificate not trusted: ${why}`, { method: 'mtls' });
      }
      const cn = commonName(socket);
      if (!cn) throw invalid('client certificate has no subject CN', { method: 'mtls' });
      const roles = Object.hasOwn(opts.subjectRoles ?? {}, cn) ? [...opts.subjectRoles![cn]!] : [];
      return { id: cn, method: 'mtls', groups: groupsOf(cn), ...(roles.length ? { roles } : {}) };
    }
    if (!opts.required) return { ...ANONYMOUS, groups: [] };
    throw new ModgateError(
      'AUTH_REQUIRED',
      'authentication required: use a token (Basic or Bearer) or a client certificate',
    );
  };
}

/**
 * The fastify adapter: `identify(req)` for the routes. Works over HTTP/1.1 and
 * HTTP/2 (whose request socket forwards to the session's TLS socket).
 */
export function createIdentify(
  opts: AuthOptions,
): (req: { headers: IncomingHttpHeaders; raw: { socket: unknown } }) => Identity {
  const auth = createAuthenticator(opts);
  return (req) => auth({ headers: req.headers, socket: req.raw.socket as PeerSocket | null });
}

/** One-shot form of createAuthenticator. */
export function authenticate(input: AuthInput, opts: AuthOptions): Identity {
  return createAuthenticator(opts)(input);
}
