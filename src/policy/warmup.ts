import type { DecisionRequest } from '../contracts.js';
import type { CompiledData } from './data.js';
import { buildInput, type PolicyInput } from './input.js';

const WARMUP: DecisionRequest = {
  kind: 'zip',
  module: 'warmup.invalid/m',
  version: 'v1.0.0',
  identity: { id: 'warmup', method: 'anonymous', groups: [] },
  facts: {},
};

/**
 * Runs the policy over inputs that make every shipped rule fire (and none),
 * so that the wasm functions and the builtins they call are compiled before a
 * real decision's budget counts: V8 compiles a wasm function on its first call.
 */
export function warmUp(evaluate: (input: PolicyInput) => unknown, data: CompiledData): void {
  const base = buildInput(WARMUP, data, new Date());
  const epoch = base.request.epoch;
  const all: PolicyInput = {
    ...base,
    module: { ...base.module, pseudo: true, incompatible: true },
    match: {
      allowed: false,
      deniedBy: 'warmup.invalid',
      groupAllowed: false,
      banned: [{ versions: '*', reason: 'warm-up' }],
      waivers: [{ reason: 'warm-up', expires: base.request.time, expiresEpoch: epoch + 60 }],
      cooldownExempt: false,
    },
    facts: {
      publishTime: base.request.time,
      publishEpoch: epoch,
      retracted: true,
      deprecated: 'warm-up',
      zipSize: 2 ** 40,
      checksum: { verified: false, method: 'none' },
    },
  };
  const noWaiver = { ...all, match: { ...all.match, waivers: [] } };
  const list = { ...noWaiver, request: { ...base.request, kind: 'list' } };
  for (let i = 0; i < 3; i++) {
    for (const input of [base, all, noWaiver, list]) evaluate(input);
  }
}
