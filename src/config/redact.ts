import type { ModgateConfig } from './types.js';

const SECRET_KEYS = new Set(['password', 'token', 'sha256']);

/** A copy of the config with secrets replaced, for printing and logging. */
export function redactConfig(config: ModgateConfig): unknown {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [
          k,
          SECRET_KEYS.has(k) && typeof x === 'string' ? '[redacted]' : walk(x),
        ]),
      );
    }
    return v;
  };
  const out = walk(config) as Record<string, unknown>;
  if (typeof out.upstream === 'string')
    out.upstream = out.upstream.replace(/\/\/[^/@]+@/g, '//[redacted]@');
  return out;
}
