/**
 * Which redirects an upstream may send modgate on. None by default: a 3xx is
 * UPSTREAM_REDIRECT. `same-origin` or a list of origins allows those hops;
 * every hop keeps the https rule and the pins (the same pinned dispatcher), and
 * none may reach a loopback, link-local or private address unless the
 * configured upstream itself is on one.
 *
 * | code               | meaning                                                   |
 * |--------------------|-----------------------------------------------------------|
 * | UPSTREAM_REDIRECT  | a redirect that the upstream's config does not allow       |
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { ModgateError } from '../errors.js';
import { redactUrl, underPrefix } from './url.js';

export type RedirectRule = 'none' | 'same-origin' | string[];

/** The redirect rule of an upstream URL, from config keyed by upstream URL (origin + path prefix). */
export function redirectRules(
  config: Record<string, RedirectRule>,
): (upstream: string) => RedirectRule {
  const entries = Object.entries(config).map(([k, rule]) => {
    try {
      return { prefix: new URL(k), rule };
    } catch {
      throw new ModgateError(
        'CONFIG_INVALID',
        `followRedirects key ${JSON.stringify(k)} is not a URL`,
      );
    }
  });
  entries.sort((a, b) => b.prefix.pathname.length - a.prefix.pathname.length);
  return (upstream) => {
    const u = new URL(upstream);
    return entries.find((e) => underPrefix(u, e.prefix))?.rule ?? 'none';
  };
}

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

/** Loopback, link-local, private (RFC 1918, ULA), CGNAT or unspecified. */
export function isPrivateAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '');
  const v = isIP(a);
  if (v === 0) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) return PRIVATE.check(mapped[1]!, 'ipv4');
  return PRIVATE.check(a, v === 4 ? 'ipv4' : 'ipv6');
}

export interface AddressPolicy {
  resolve: (host: string) => Promise<string[]>;
  isPrivate: (address: string) => boolean;
}

export const systemAddresses: AddressPolicy = {
  resolve: async (host) => (await lookup(host, { all: true })).map((r) => r.address),
  isPrivate: isPrivateAddress,
};

/** True when any address of the URL's host is private (an IP literal is its own address). */
export async function reachesPrivate(url: URL, p: AddressPolicy): Promise<boolean> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addrs = isIP(host) ? [host] : await p.resolve(host).catch(() => [] as string[]);
  return addrs.some((a) => p.isPrivate(a));
}

/**
 * Checks one redirect hop of a request that started at `upstream` and is now
 * at `from`; returns the target. Throws UPSTREAM_REDIRECT when it is not allowed.
 */
export async function checkRedirect(
  upstream: URL,
  from: URL,
  location: string,
  rule: RedirectRule,
  addresses: AddressPolicy,
): Promise<URL> {
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw refuse(upstream, from, '[invalid Location]', 'its Location is not a URL');
  }
  const target = redactUrl(to);
  if (rule === 'none')
    throw refuse(upstream, from, target, 'redirects are not followed (followRedirects is not set)');
  if (to.protocol !== 'https:' && to.protocol !== 'http:')
    throw refuse(upstream, from, target, `scheme ${to.protocol} is not http(s)`);
  if (upstream.protocol === 'https:' && to.protocol !== 'https:')
    throw refuse(upstream, from, target, 'it downgrades https to http');
  const allowed =
    to.origin === upstream.origin ||
    (Array.isArray(rule) && rule.some((o) => new URL(o).origin === to.origin));
  if (!allowed)
    throw refuse(upstream, from, target, `origin ${to.origin} is not allowed by followRedirects`);
  if (
    to.hostname !== upstream.hostname &&
    !(await reachesPrivate(upstream, addresses)) &&
    (await reachesPrivate(to, addresses))
  )
    throw refuse(upstream, from, target, 'it points at a loopback, link-local or private address');
  to.hash = '';
  return to;
}

function refuse(upstream: URL, from: URL, target: string, why: string): ModgateError {
  return new ModgateError(
    'UPSTREAM_REDIRECT',
    `upstream ${upstream.origin} redirected ${redactUrl(from)} to ${target}: refused, ${why}`,
    { upstream: upstream.origin, target },
  );
}
