/** Messages between the primary and its workers (besides the state requests of src/state/coordinator.ts). */
import type { ModgateConfig } from '../config/types.js';

/** worker -> primary, once its code is loaded: asks for its start message. */
export interface HelloMessage {
  t: 'hello';
}

/** primary -> worker, in answer to hello: the validated config, rewritten for this slot. */
export interface StartMessage {
  t: 'start';
  slot: number;
  config: ModgateConfig;
  /** Whether this process logs the start-up summary line (once per primary). */
  announce: boolean;
}

/** worker -> primary: listening and serving. */
export interface ReadyMessage {
  t: 'ready';
  url: string;
}

/** worker -> primary: start-up failed with this error (the worker then exits 1). */
export interface FailedMessage {
  t: 'failed';
  code: string;
  message: string;
}

const isObj = (m: unknown): m is Record<string, unknown> => typeof m === 'object' && m !== null;

export function isStart(m: unknown): m is StartMessage {
  return isObj(m) && m.t === 'start' && Number.isInteger(m.slot) && isObj(m.config);
}

export function isReady(m: unknown): m is ReadyMessage {
  return isObj(m) && m.t === 'ready' && typeof m.url === 'string';
}

export function isFailed(m: unknown): m is FailedMessage {
  return (
    isObj(m) && m.t === 'failed' && typeof m.code === 'string' && typeof m.message === 'string'
  );
}

export function isHello(m: unknown): m is HelloMessage {
  return isObj(m) && m.t === 'hello';
}
