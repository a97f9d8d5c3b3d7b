import type { PolicyFact } from '../contracts.js';
import type { PolicyData } from './data.js';

/** Every fact the host gathers for policy rules. */
export const POLICY_FACTS: readonly PolicyFact[] = ['publishTime', 'retracted', 'deprecated'];

const ALL: ReadonlySet<PolicyFact> = new Set(POLICY_FACTS);

export function isPolicyFact(v: unknown): v is PolicyFact {
  return typeof v === 'string' && (POLICY_FACTS as readonly string[]).includes(v);
}

/**
 * The gathered facts the policy in force needs before it can decide, derived
 * from the data settings the shipped rules read: the cool-down
 * (minReleaseAgeHours > 0) needs the publish time, denyRetracted needs the
 * retraction. Deprecation only feeds a warning there, so it is recorded when
 * known but never waited for. `needsFacts` in the data declares what an
 * operator's own rules read besides. An opa bundle's rules are unknown to the
 * host: without a `needsFacts` of its own it is taken to need every fact.
 */
export function factsNeeded(settings: PolicyData, bundled: boolean): ReadonlySet<PolicyFact> {
  if (bundled && settings.needsFacts === undefined) return ALL;
  const needs = new Set<PolicyFact>(settings.needsFacts ?? []);
  if ((settings.minReleaseAgeHours ?? 0) > 0) needs.add('publishTime');
  if (settings.denyRetracted === true) needs.add('retracted');
  return needs;
}
