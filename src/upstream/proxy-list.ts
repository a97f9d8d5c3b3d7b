import { ModgateError } from '../errors.js';

/** One entry of a GOPROXY-syntax list, with the separator that followed it. */
export interface ProxyEntry {
  url: string;
  /** true after '|' (fall through on any error), false after ',' (only on 404/410). */
  fallBackOnError: boolean;
}

/**
 * Parses a GOPROXY string exactly as the go command does: entries split on ','
 * and '|', "direct" and "off" end the list, bare host names get https://.
 */
export function parseProxyList(value: string): ProxyEntry[] {
  const out: ProxyEntry[] = [];
  let rest = value;
  while (rest !== '') {
    const i = rest.search(/[,|]/);
    const raw = (i < 0 ? rest : rest.slice(0, i)).trim();
    const fallBackOnError = i >= 0 && rest[i] === '|';
    rest = i < 0 ? '' : rest.slice(i + 1);
    if (raw === '') continue;
    if (raw === 'direct' || raw === 'off') {
      out.push({ url: raw, fallBackOnError: false });
      break;
    }
    out.push({ url: normalizeProxyUrl(raw), fallBackOnError });
  }
  if (out.length === 0 && value !== '') {
    throw new ModgateError(
      'UPSTREAM_LIST_INVALID',
      'GOPROXY list is not the empty string, but contains no entries',
    );
  }
  return out;
}

function normalizeProxyUrl(raw: string): string {
  let url = raw;
  if (
    !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(url) &&
    !url.startsWith('/') &&
    /[.:/]/.test(url) &&
    !url.includes(':/')
  ) {
    url = `https://${url}`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ModgateError('UPSTREAM_LIST_INVALID', `invalid proxy URL missing scheme: ${raw}`);
  }
  if (!url.includes('://'))
    throw new ModgateError('UPSTREAM_LIST_INVALID', `invalid proxy URL missing scheme: ${raw}`);
  const scheme = parsed.protocol.slice(0, -1);
  if (!['https', 'http', 'file'].includes(scheme)) {
    throw new ModgateError(
      'UPSTREAM_LIST_INVALID',
      `invalid proxy URL scheme (must be https, http, file): ${raw}`,
    );
  }
  if (scheme === 'file' && (parsed.host !== '' || parsed.search !== '' || parsed.hash !== '')) {
    throw new ModgateError(
      'UPSTREAM_LIST_INVALID',
      `invalid file:// proxy URL with non-path elements: ${raw}`,
    );
  }
  return url;
}

/**
 * The upstream chain modgate forwards to: the GOPROXY list up to "direct" or
 * "off" (modgate never fetches from version control). file:// entries are refused.
 */
export function upstreamChain(value: string): ProxyEntry[] {
  const chain: ProxyEntry[] = [];
  for (const e of parseProxyList(value)) {
    if (e.url === 'direct' || e.url === 'off') break;
    if (e.url.startsWith('file:')) {
      throw new ModgateError(
        'UPSTREAM_LIST_INVALID',
        `file:// upstreams are not supported: ${e.url}`,
      );
    }
    chain.push({ url: e.url.replace(/\/+$/, ''), fallBackOnError: e.fallBackOnError });
  }
  return chain;
}

/** Refuses a chain that would send modgate's requests back to modgate. */
export function assertNotSelf(chain: ProxyEntry[], selfUrls: string[]): void {
  const selves = new Set(selfUrls.map(hostPort));
  for (const e of chain) {
    if (selves.has(hostPort(e.url))) {
      throw new ModgateError('UPSTREAM_IS_SELF', `upstream ${e.url} points at modgate itself`);
    }
  }
}

function hostPort(url: string): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const host = u.hostname === 'localhost' || u.hostname === '[::1]' ? '127.0.0.1' : u.hostname;
  return `${host}:${port}`;
}
