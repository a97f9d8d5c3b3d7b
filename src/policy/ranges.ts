import { ModgateError } from '../errors.js';
import { compare, isValid } from '../integrity/semver.js';

type Op = '<' | '<=' | '>' | '>=' | '=';

/**
 * A version constraint with Go's semver ordering: "v1.2.3" (exact), "< v1.2.3",
 * ">= v1.4.0 < v1.4.5" (all terms must hold), or "*" (any version).
 */
export function parseRange(spec: string): (version: string) => boolean {
  const s = spec.trim();
  if (s === '*' || s === '') return () => true;
  const terms: Array<{ op: Op; v: string }> = [];
  const re = /\s*(<=|>=|<|>|=)?\s*(v[^\s<>=]+)/y;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(s))) {
    if (!isValid(m[2]!)) throw invalid(spec, `${m[2]} is not a semantic version`);
    terms.push({ op: (m[1] as Op | undefined) ?? '=', v: m[2]! });
    last = re.lastIndex;
  }
  if (terms.length === 0 || s.slice(last).trim() !== '')
    throw invalid(spec, 'expected terms like "v1.2.3" or ">= v1.4.0 < v1.4.5"');
  return (version) => isValid(version) && terms.every((t) => holds(compare(version, t.v), t.op));
}

function holds(c: number, op: Op): boolean {
  switch (op) {
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
    default:
      return c === 0;
  }
}

function invalid(spec: string, why: string): ModgateError {
  return new ModgateError(
    'POLICY_DATA_INVALID',
    `invalid version range ${JSON.stringify(spec)}: ${why}`,
  );
}
