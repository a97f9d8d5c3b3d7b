/**
 * Parses a GOSUMDB setting the way the go command does:
 *   "off"                          no checksum database
 *   "sum.golang.org"               a known database by name (its key is built in)
 *   "name+hash+key"                any database by verifier key
 *   "<name or key> <URL>"          ... reached at an explicit URL
 * "sum.golang.google.cn" means sum.golang.org at https://sum.golang.google.cn.
 * An empty setting means sum.golang.org.
 *
 * Error codes:
 * | code            | meaning                                           |
 * |-----------------|---------------------------------------------------|
 * | GOSUMDB_INVALID | the setting is malformed                          |
 * | NOTE_KEY_INVALID| (cause) the verifier key is malformed             |
 */
import { ModgateError } from '../../errors.js';
import { parseVerifierKey } from '../note.js';

export const SUM_GOLANG_ORG_KEY =
  'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';

const KNOWN: Record<string, string> = {
  'sum.golang.org': SUM_GOLANG_ORG_KEY,
};

export type GoSumdb =
  { off: true } | { off: false; name: string; verifierKey: string; url?: string };

const invalid = (msg: string, cause?: unknown): ModgateError =>
  new ModgateError(
    'GOSUMDB_INVALID',
    `invalid GOSUMDB: ${msg}`,
    {},
    cause === undefined ? undefined : { cause },
  );

/** A database name must be host[/path] with nothing else (no scheme, userinfo, query, fragment or trailing slash). */
function checkName(name: string): void {
  let u: URL;
  try {
    u = new URL(`https://${name}`);
  } catch (err) {
    throw invalid(`invalid sumdb name (must be host[/path]): ${name}`, err);
  }
  const rebuilt = `${u.host}${u.pathname === '/' && !name.includes('/') ? '' : u.pathname}`;
  if (
    name.endsWith('/') ||
    u.username ||
    u.password ||
    u.search ||
    u.hash ||
    name.includes('?') ||
    name.includes('#') ||
    u.host === '' ||
    rebuilt.toLowerCase() !== name.toLowerCase()
  ) {
    throw invalid(`invalid sumdb name (must be host[/path]): ${name}`);
  }
}

export function parseGoSumdb(setting: string | undefined): GoSumdb {
  let value = (setting ?? '').trim();
  if (value === '') value = 'sum.golang.org';
  if (value === 'sum.golang.google.cn') value = 'sum.golang.org https://sum.golang.google.cn';
  if (value === 'off') return { off: true };
  const fields = value.split(/\s+/);
  if (fields.length > 2) throw invalid('too many fields');
  const key = KNOWN[fields[0]!] ?? fields[0]!;
  let name: string;
  try {
    name = parseVerifierKey(key).name;
  } catch (err) {
    throw invalid(err instanceof Error ? err.message : String(err), err);
  }
  checkName(name);
  if (fields.length === 1) return { off: false, name, verifierKey: key };
  const raw = fields[1]!;
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw invalid(`invalid URL ${raw}`, err);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalid(`unsupported URL scheme in ${raw}`);
  return { off: false, name, verifierKey: key, url: raw.replace(/\/+$/, '') };
}
