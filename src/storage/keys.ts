import { ModgateError } from '../errors.js';

const SAFE_KEY = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._~!+@,=/-]+$/;
const MAX_KEY = 900;

/**
 * Refuses keys that could leave the store's folder or prefix: absolute,
 * empty segments, "." or "..", or characters outside a small safe set. Every
 * BlobStore calls it first, so that the rule is the same on every engine.
 */
export function checkKey(key: string): string {
  if (
    key.length > MAX_KEY ||
    !SAFE_KEY.test(key) ||
    key.startsWith('/') ||
    key.endsWith('/') ||
    key.includes('//')
  ) {
    throw new ModgateError('STORAGE_BAD_KEY', `unsafe storage key: ${JSON.stringify(key)}`);
  }
  return key;
}

/** A prefix for list(): empty, or safe segments ending in '/' or not. */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
}

/** Wraps an engine's error as STORAGE_UNAVAILABLE; a ModgateError passes through. */
export function storageError(engine: string, err: unknown, key: string): ModgateError {
  if (err instanceof ModgateError) return err;
  const e = err as { code?: string; name?: string; message?: string };
  const why = e.code ?? e.name ?? e.message ?? String(err);
  return new ModgateError(
    'STORAGE_UNAVAILABLE',
    `${engine} storage error for ${key}: ${why}`,
    { engine },
    { cause: err },
  );
}
