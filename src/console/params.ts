/**
 * The console API's query parameters, validated before anything is read:
 * every parameter of a request must be one the endpoint knows, each within its
 * bounds. A bad one is CONSOLE_QUERY_INVALID (400) naming it.
 */
import { ModgateError, isModgateError } from '../errors.js';
import { parseTimeArg, type QueryFilter } from '../audit/query.js';

export type Params = Record<string, string>;

/** The filter `modgate audit query` takes, by the CLI's option names. */
export const FILTER_KEYS = [
  'module',
  'version',
  'client',
  'decision',
  'code',
  'since',
  'until',
] as const;

const LIMITS: Record<string, { max: number; re?: RegExp }> = {
  module: { max: 512 },
  version: { max: 256 },
  client: { max: 128 },
  code: { max: 64, re: /^[A-Z][A-Z0-9_]*$/ },
  kind: { max: 16, re: /^(info|mod|zip|list|latest|query)$/ },
  decision: { max: 16, re: /^(allow|deny|warn|not_found)$/ },
  since: { max: 64 },
  until: { max: 64 },
  cursor: { max: 512, re: /^[A-Za-z0-9_-]+$/ },
  limit: { max: 4, re: /^[1-9][0-9]*$/ },
  buckets: { max: 3, re: /^[1-9][0-9]*$/ },
};

export function bad(message: string, param?: string): ModgateError {
  return new ModgateError('CONSOLE_QUERY_INVALID', message, param ? { param } : {});
}

/**
 * The request's query as plain strings, refusing unknown names, repeated
 * names, control characters and values over their bounds.
 */
export function readParams(query: unknown, allowed: readonly string[]): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    if (!allowed.includes(k)) throw bad(`unknown parameter ${JSON.stringify(k.slice(0, 64))}`, k);
    if (typeof v !== 'string') throw bad(`parameter ${k} must be given once`, k);
    if (v === '') continue;
    const lim = LIMITS[k] ?? { max: 256 };
    if (v.length > lim.max) throw bad(`parameter ${k} is longer than ${lim.max} characters`, k);
    if (/[\u0000-\u001f\u007f]/.test(v)) throw bad(`parameter ${k} holds control characters`, k);
    if (lim.re && !lim.re.test(v)) throw bad(`parameter ${k} is malformed`, k);
    out[k] = v;
  }
  return out;
}

/** The audit query filter of the parameters (the same fields as `modgate audit query`). */
export function filterOf(p: Params, now = new Date()): QueryFilter {
  const f: QueryFilter = {};
  if (p.module) f.module = p.module;
  if (p.version) f.version = p.version;
  if (p.client) f.client = p.client;
  if (p.decision) f.decision = p.decision as QueryFilter['decision'];
  if (p.code) f.code = p.code;
  if (p.since) f.since = time(p.since, 'since', now);
  if (p.until) f.until = time(p.until, 'until', now);
  if (f.since && f.until && f.since.getTime() >= f.until.getTime())
    throw bad('since must be before until', 'since');
  return f;
}

function time(v: string, name: string, now: Date): Date {
  try {
    return parseTimeArg(v, now);
  } catch (err) {
    if (isModgateError(err)) throw bad(`parameter ${name}: ${err.message}`, name);
    /* c8 ignore next */
    throw err;
  }
}

/** An integer parameter within [1, max], or its default. */
export function intParam(p: Params, name: string, def: number, max: number): number {
  const v = p[name];
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n > max) throw bad(`parameter ${name} must be 1 to ${max}`, name);
  return n;
}
