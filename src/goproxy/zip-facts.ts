import type { Decision, ModuleFacts, PolicyGate, RequestContext } from '../contracts.js';
import type { FactsService } from './facts.js';
import { raceSignal } from './tasks.js';

/**
 * Denial codes that only say a fact is unknown. Before any fact was gathered
 * they are no verdict yet: the decision made with the facts settles them.
 */
const UNKNOWN_FACT_CODES = new Set(['PUBLISH_TIME_UNKNOWN', 'RETRACTION_UNKNOWN']);

/** The decision made before facts, without the denials that only await them. */
export function beforeFacts(d: Decision): Decision {
  if (d.allow) return d;
  const deny = d.deny.filter((r) => !UNKNOWN_FACT_CODES.has(r.code));
  return deny.length ? { ...d, deny } : { ...d, allow: true, deny };
}

/**
 * The facts a zip is decided with, once it is downloaded and verified. The
 * zip waits only for the facts the policy in force needs (a gate that cannot
 * say is taken to need them all), joining the prefetch started before the
 * download, and for those at most the facts budget (limits.requestFactsMs):
 * then it is decided with what is known, and a missing fact the policy needs
 * denies. Without needs it is decided at once with what earlier requests
 * gathered; the prefetch goes on in the background and fills the cache.
 */
export async function zipFacts(
  d: { gate: PolicyGate; facts: FactsService; budget: { ms: number } },
  ctx: RequestContext,
  module: string,
  version: string,
): Promise<ModuleFacts> {
  const needs = d.gate.factsNeeded?.();
  if (needs && needs.size === 0) return d.facts.known(module, version);
  const deadline = AbortSignal.timeout(d.budget.ms);
  const signal = AbortSignal.any([ctx.signal, deadline]);
  try {
    return await raceSignal(d.facts.forVersion(module, version, signal, needs), signal);
  } catch (err) {
    if (ctx.signal.aborted || !deadline.aborted) throw err;
    return d.facts.known(module, version);
  }
}
