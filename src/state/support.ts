/**
 * Error codes:
 * | code              | meaning                                                      |
 * |-------------------|--------------------------------------------------------------|
 * | STATE_UNAVAILABLE | the shared-state engine cannot be reached or answered badly  |
 * | STORAGE_BAD_KEY   | a state key holds characters outside STATE_KEY               |
 */
import { randomBytes } from 'node:crypto';
import { ModgateError, isModgateError } from '../errors.js';
import { STATE_KEY } from './types.js';

export function checkKey(kind: string, key: string): string {
  if (!STATE_KEY.test(key) || key.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new ModgateError('STORAGE_BAD_KEY', `unsafe ${kind} key ${JSON.stringify(key)}`);
  }
  return key;
}

export function checkTtl(ttlMs: number): number {
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > 24 * 3600_000) {
    throw new ModgateError('STATE_UNAVAILABLE', `invalid lease ttl ${ttlMs} ms`);
  }
  return ttlMs;
}

export const newToken = (): string => randomBytes(16).toString('hex');

/** Wraps an engine failure as STATE_UNAVAILABLE naming the engine; ModgateErrors pass through. */
export function unavailable(engine: string, what: string, err: unknown): ModgateError {
  if (err instanceof ModgateError && !isModgateError(err, 'INTERNAL')) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new ModgateError(
    'STATE_UNAVAILABLE',
    `shared state (${engine}) is unavailable: ${what}: ${reason}`,
    { engine },
    { cause: err },
  );
}
