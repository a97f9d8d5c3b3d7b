/**
 * Which upstreams form groups of equivalent mirrors, from the config: groups
 * listed under `mirrors.groups` with `equivalent: true`, and with
 * `mirrors.pipeGroups: equivalent` every `|` group of two or more entries of
 * every chain. A group's members must stand together, joined by `|`, in each
 * chain that names one of them, so that routing among them keeps the chain's
 * fallback rules.
 */
import type { ModgateConfig } from '../config/types.js';
import { ModgateError } from '../errors.js';
import { upstreamChain, type ProxyEntry } from '../upstream/proxy-list.js';
import { redactUrl } from '../upstream/url.js';

export interface GroupPlan {
  name: string;
  /** Upstream URLs as the chains spell them. */
  members: string[];
}

interface NamedChain {
  where: string;
  chain: ProxyEntry[];
}

function chainsOf(config: ModgateConfig): NamedChain[] {
  const out: NamedChain[] = [{ where: 'upstream', chain: upstreamChain(config.upstream ?? '') }];
  config.routes.forEach((r, i) => {
    if (r.source === 'proxy')
      out.push({ where: `routes.${i}.upstream`, chain: upstreamChain(r.upstream) });
  });
  return out;
}

/** The `|` groups of a chain: maximal runs of entries joined by `|`. */
export function pipeRuns(chain: ProxyEntry[]): ProxyEntry[][] {
  const runs: ProxyEntry[][] = [];
  let run: ProxyEntry[] = [];
  for (const e of chain) {
    run.push(e);
    if (!e.fallBackOnError) {
      runs.push(run);
      run = [];
    }
  }
  if (run.length) runs.push(run);
  return runs;
}

/** Where the members of a group stand in a chain: the index of the first, or -1, or 'split'. */
export function findGroup(chain: ProxyEntry[], members: readonly string[]): number | 'split' {
  const set = new Set(members);
  const at = chain.findIndex((e) => set.has(e.url));
  if (at < 0) return -1;
  const slice = chain.slice(at, at + members.length);
  const together =
    slice.length === members.length &&
    new Set(slice.map((e) => e.url)).size === set.size &&
    slice.every((e) => set.has(e.url)) &&
    slice.slice(0, -1).every((e) => e.fallBackOnError);
  const again = chain.slice(at + members.length).some((e) => set.has(e.url));
  return together && !again ? at : 'split';
}

function normalize(url: string): string {
  return upstreamChain(url)[0]?.url ?? url;
}

/** The groups of a config; throws CONFIG_INVALID listing every misplaced group. */
export function planGroups(config: ModgateConfig): GroupPlan[] {
  const chains = chainsOf(config);
  const out: GroupPlan[] = [];
  const problems: string[] = [];
  config.mirrors.groups.forEach((g, i) => {
    if (!g.equivalent) return;
    const members = g.members.map(normalize);
    const at = `mirrors.groups.${i}`;
    if (new Set(members).size !== members.length) problems.push(`${at}.members: listed twice`);
    const places = chains.map((c) => ({ c, pos: findGroup(c.chain, members) }));
    const split = places.filter((p) => p.pos === 'split').map((p) => p.c.where);
    if (split.length)
      problems.push(`${at}: its members are not together, joined by |, in ${split.join(', ')}`);
    else if (places.every((p) => p.pos === -1)) problems.push(`${at}: no chain names its members`);
    out.push({ name: g.name ?? members.map(redactUrl).join('|'), members });
  });
  if (config.mirrors.pipeGroups === 'equivalent') {
    const known = new Set(out.map((g) => [...g.members].sort().join(' ')));
    for (const c of chains)
      for (const run of pipeRuns(c.chain)) {
        const members = run.map((e) => e.url);
        const key = [...members].sort().join(' ');
        if (members.length < 2 || known.has(key) || new Set(members).size !== members.length)
          continue;
        known.add(key);
        out.push({ name: members.map(redactUrl).join('|'), members });
      }
  }
  if (problems.length)
    throw new ModgateError('CONFIG_INVALID', `invalid mirror groups:\n  ${problems.join('\n  ')}`, {
      violations: problems,
    });
  return out;
}
