/**
 * OSV entries of the Go vulnerability database, read as hostile input
 * (OSV schema 1.x, https://ossf.github.io/osv-schema/, and the Go database's
 * v1 layout, https://go.dev/doc/security/vuln/database). Only the fields that
 * decisions need are kept; everything else in an entry is served as it came,
 * byte for byte, by the mirror. PURE: no I/O.
 */
import { ModgateError } from '../errors.js';

export type RangeEvent =
  | { kind: 'introduced'; version: string }
  | { kind: 'fixed'; version: string }
  | { kind: 'last_affected'; version: string };

export interface Affected {
  /** The module path, or the pseudo-modules `stdlib` and `toolchain`. */
  module: string;
  /** SEMVER ranges only; each an event list as written (bare versions, no "v"). */
  ranges: RangeEvent[][];
  /** The entry names ranges, but none of type SEMVER: every version is affected (as govulncheck). */
  allVersions: boolean;
}

export interface Entry {
  id: string;
  modified: string;
  aliases: string[];
  summary: string;
  /** RFC 3339 time the entry was withdrawn, or "". */
  withdrawn: string;
  affected: Affected[];
}

/** GO-YYYY-NNNN, the database's id form; also what names the file ID/<id>.json. */
export const ID_RE = /^GO-[0-9]{4}-[0-9]{4,7}$/;
const MAX_ALIASES = 64;
const MAX_AFFECTED = 1024;
const MAX_EVENTS = 4096;
const MAX_TEXT = 4096;

function bad(id: string, why: string): ModgateError {
  return new ModgateError('VULNDB_INVALID', `vulnerability entry ${id}: ${why}`, {
    id,
    reason: why,
  });
}

function str(v: unknown, id: string, field: string, required: boolean): string {
  if (v === undefined && !required) return '';
  if (typeof v !== 'string') throw bad(id, `${field} is not a string`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rfc3339(v: string, id: string, field: string): string {
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) ||
    !Number.isFinite(Date.parse(v))
  )
    throw bad(id, `${field} is not an RFC 3339 time`);
  return v;
}

function parseEvents(events: unknown, id: string): RangeEvent[] {
  if (!Array.isArray(events) || events.length > MAX_EVENTS) throw bad(id, 'range events malformed');
  return events.map((e): RangeEvent => {
    if (!isObject(e)) throw bad(id, 'range event is not an object');
    const keys = Object.keys(e).filter((k) =>
      ['introduced', 'fixed', 'last_affected', 'limit'].includes(k),
    );
    if (keys.length !== 1)
      throw bad(id, 'a range event must have exactly one of introduced, fixed, last_affected');
    const kind = keys[0]!;
    if (kind === 'limit') throw bad(id, 'range event "limit" is not supported');
    const version = str(e[kind], id, kind, true);
    if (version.length > 256) throw bad(id, `${kind} version too long`);
    return { kind: kind as RangeEvent['kind'], version };
  });
}

function parseAffected(a: unknown, id: string): Affected {
  if (!isObject(a) || !isObject(a.package)) throw bad(id, 'affected[] malformed');
  const module = str(a.package.name, id, 'affected[].package.name', true);
  if (module === '' || module.length > 1024)
    throw bad(id, 'affected[].package.name empty or too long');
  const ranges: RangeEvent[][] = [];
  let named = 0;
  if (a.ranges !== undefined) {
    if (!Array.isArray(a.ranges)) throw bad(id, 'affected[].ranges is not an array');
    for (const r of a.ranges) {
      if (!isObject(r)) throw bad(id, 'range is not an object');
      named++;
      if (r.type === 'SEMVER') ranges.push(parseEvents(r.events, id));
    }
  }
  return { module, ranges, allVersions: named === 0 || ranges.length === 0 };
}

/** Parses and checks one ID/<id>.json; `expectId` is the id its file name or index gives. */
export function parseEntry(bytes: Buffer | string, expectId?: string): Entry {
  const label = expectId ?? 'entry';
  let o: unknown;
  try {
    o = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch {
    throw bad(label, 'not JSON');
  }
  if (!isObject(o)) throw bad(label, 'not a JSON object');
  const id = str(o.id, label, 'id', true);
  if (!ID_RE.test(id))
    throw bad(label, `id ${JSON.stringify(id.slice(0, 40))} is not a database id`);
  if (expectId !== undefined && id !== expectId) throw bad(label, `holds id ${id}`);
  const aliases = o.aliases === undefined ? [] : o.aliases;
  if (!Array.isArray(aliases) || aliases.length > MAX_ALIASES) throw bad(id, 'aliases malformed');
  const affected = o.affected === undefined ? [] : o.affected;
  if (!Array.isArray(affected) || affected.length > MAX_AFFECTED)
    throw bad(id, 'affected malformed');
  const withdrawn = str(o.withdrawn, id, 'withdrawn', false);
  return {
    id,
    modified: rfc3339(str(o.modified, id, 'modified', true), id, 'modified'),
    aliases: aliases.map((x) => str(x, id, 'aliases[]', true).slice(0, 256)),
    summary: str(o.summary, id, 'summary', false).slice(0, MAX_TEXT),
    withdrawn: withdrawn && rfc3339(withdrawn, id, 'withdrawn'),
    affected: affected.map((a) => parseAffected(a, id)),
  };
}

/** index/db.json: `{"modified": RFC 3339}`. */
export function parseDbIndex(bytes: Buffer | string): { modified: string } {
  let o: unknown;
  try {
    o = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch {
    throw bad('index/db.json', 'not JSON');
  }
  if (!isObject(o)) throw bad('index/db.json', 'not a JSON object');
  return {
    modified: rfc3339(
      str(o.modified, 'index/db.json', 'modified', true),
      'index/db.json',
      'modified',
    ),
  };
}
