/**
 * Upstream URLs are built from parsed parts and then checked: the result must
 * stay on the configured upstream's origin and under its base path, with no
 * query and no fragment. A request path that would step outside (`..`, `%`,
 * `?`, `#`, `\`, control characters) is refused before any connection.
 *
 * | code             | meaning                                                           |
 * |------------------|-------------------------------------------------------------------|
 * | REQUEST_INVALID  | a path element holds a character or dot-segment that could escape |
 */
import { ModgateError } from '../errors.js';

/** Characters no GOPROXY or checksum-database path element may hold once escaped. */
const HOSTILE = /[\\#%?\u0000-\u001f\u007f]/;

/** Why a path element is unsafe in an upstream URL, or undefined when it is safe. */
export function hostileElement(elem: string): string | undefined {
  if (elem === '.' || elem === '..') return `dot segment ${JSON.stringify(elem)}`;
  if (elem.includes('..')) return `".." in ${JSON.stringify(elem)}`;
  const m = HOSTILE.exec(elem);
  if (m) return `character ${JSON.stringify(m[0])} in ${JSON.stringify(elem)}`;
  return undefined;
}

/** An upstream URL without userinfo, query or fragment: safe in logs and error texts. */
export function redactUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.origin}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '[invalid URL]';
  }
}

/**
 * base (a configured upstream, possibly with a base path) joined with an
 * escaped request path of "/"-separated elements. Refuses elements that could
 * change the origin or leave the base path, and checks the parsed result.
 */
export function buildUpstreamUrl(base: string, path: string): URL {
  if (!path.startsWith('/'))
    throw new ModgateError('REQUEST_INVALID', `upstream path must start with "/"`);
  for (const elem of path === '/' ? [] : path.slice(1).split('/')) {
    const why = elem === '' ? 'an empty path element' : hostileElement(elem);
    if (why)
      throw new ModgateError('REQUEST_INVALID', `refusing to forward a path with ${why}`, {
        path: path.slice(0, 200),
      });
  }
  const b = new URL(base);
  const basePath = b.pathname.replace(/\/+$/, '');
  const u = new URL(`${b.origin}${basePath}${path}`);
  const under = u.pathname === basePath || u.pathname.startsWith(`${basePath}/`);
  if (u.origin !== b.origin || !under || u.search !== '' || u.hash !== '')
    throw new ModgateError(
      'REQUEST_INVALID',
      `refusing to forward ${JSON.stringify(path.slice(0, 200))}: it leaves ${redactUrl(b)}`,
    );
  // Userinfo in a configured upstream is carried into the request, never into messages.
  u.username = b.username;
  u.password = b.password;
  return u;
}

/** Whether url lies under prefix: same origin (scheme, host, port) and a path prefix at a segment boundary. */
export function underPrefix(url: URL, prefix: URL): boolean {
  if (url.protocol !== prefix.protocol || url.host !== prefix.host) return false;
  const p = prefix.pathname.replace(/\/+$/, '');
  return p === '' || url.pathname === p || url.pathname.startsWith(`${p}/`);
}
