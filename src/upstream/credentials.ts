/**
 * Per-upstream credentials, matched by exact origin (scheme, host, port) and a
 * path prefix at a segment boundary: `https://host.example` never matches
 * `https://host.example.evil`, and `/base` never matches `/base2`.
 *
 * | code            | meaning                                              |
 * |-----------------|------------------------------------------------------|
 * | CONFIG_INVALID  | a credentials key is not an http(s) URL               |
 */
import type { Credential } from '../config/types.js';
import { ModgateError } from '../errors.js';
import { underPrefix } from './url.js';

/** A configured upstream credential (the config's own shape). */
export type CredentialSpec = Credential;

/** Authorization header value for a URL, or undefined. */
export type CredentialMatcher = (url: URL) => string | undefined;

export function credentialMatcher(
  entries: Record<string, CredentialSpec>,
  env: NodeJS.ProcessEnv = process.env,
): CredentialMatcher {
  const parsed = Object.entries(entries).map(([key, spec]) => {
    let u: URL;
    try {
      u = new URL(key);
    } catch {
      throw new ModgateError(
        'CONFIG_INVALID',
        `credentials key ${JSON.stringify(key)} is not a URL`,
      );
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:')
      throw new ModgateError(
        'CONFIG_INVALID',
        `credentials key ${JSON.stringify(key)} must be an http(s) URL`,
      );
    return { prefix: u, depth: u.pathname.replace(/\/+$/, '').length, spec };
  });
  // The most specific path wins.
  parsed.sort((a, b) => b.depth - a.depth);
  return (url) => {
    const hit = parsed.find((p) => underPrefix(url, p.prefix));
    return hit ? header(hit.spec, env) : undefined;
  };
}

function header(c: CredentialSpec, env: NodeJS.ProcessEnv): string | undefined {
  if (c.type === 'bearer') {
    const token = c.token ?? (c.tokenEnv ? env[c.tokenEnv] : undefined);
    return token ? `Bearer ${token}` : undefined;
  }
  const password = c.password ?? (c.passwordEnv ? env[c.passwordEnv] : undefined) ?? '';
  return `Basic ${Buffer.from(`${c.username ?? ''}:${password}`).toString('base64')}`;
}
