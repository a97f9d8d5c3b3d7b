import { performance } from 'node:perf_hooks';
import type { DecisionRequest } from '../contracts.js';
import type { PolicyData } from './data.js';
import type { PolicyEngine, RawDecision } from './engine.js';
import { buildInput, nextBoundary } from './input.js';

/**
 * The default time budget of one policy decision (policy.budgetMs). A decision
 * takes tens of microseconds; the budget is wall-clock time, so it is set far
 * above that for a loaded host's preemption (a thread descheduled for 300 ms
 * is no fault of the policy) while still stopping a looping policy in a second.
 */
export const DEFAULT_BUDGET_MS = 1000;

/** A raw decision as the gate caches it: notFound marks a path that is only an ancestor of allowed sources. */
export type GateDecision = RawDecision & { notFound?: true };

export interface Evaluation {
  decision: GateDecision;
  /** The epoch second at which this decision could change (Infinity: none known). */
  boundary: number;
  policyRevision: string;
  dataRevision: string;
}

export function policyError(message: string): RawDecision {
  return { allow: false, deny: [{ code: 'POLICY_ERROR', message }], warn: [] };
}

export function overBudget(ms: number, budgetMs: number): RawDecision {
  return policyError(
    `policy evaluation took ${ms.toFixed(1)} ms, over its ${budgetMs} ms budget: denying`,
  );
}

/**
 * Evaluates one request against a loaded engine: builds the input (the host's
 * pattern and range matches: only the waivers and bans matching this module
 * and version reach the wasm), runs the policy, and fails closed when the run
 * took longer than the budget. Runs in a policy worker, or in this thread for
 * one-shot commands.
 */
export function evaluateRequest(
  engine: PolicyEngine,
  req: DecisionRequest,
  now: Date,
  budgetMs: number,
): Evaluation {
  const data = engine.data;
  const revisions = { policyRevision: engine.policyRevision, dataRevision: engine.dataRevision };
  const t0 = performance.now();
  const input = buildInput(req, data, now);
  const raw = engine.evaluate(input);
  const ms = performance.now() - t0;
  if (ms > budgetMs) return { decision: overBudget(ms, budgetMs), boundary: 0, ...revisions };
  const notFound =
    !raw.allow &&
    raw.deny.every((r) => r.code === 'SOURCE_NOT_ALLOWED') &&
    data.allow.some((p) => p.startsWith(`${req.module}/`));
  return {
    decision: notFound ? { ...raw, notFound: true } : raw,
    boundary: nextBoundary(input, data),
    ...revisions,
  };
}

/** The data without the lists the host matches itself: what the main thread needs of it. */
export function settingsOf(raw: PolicyData): PolicyData {
  const { sources: _s, banned: _b, waivers: _w, groups: _g, cooldownExempt: _c, ...rest } = raw;
  return rest;
}
