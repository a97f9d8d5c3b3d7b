/**
 * A whole database in the v1 layout (https://go.dev/doc/security/vuln/database#api):
 * index/db.json, index/modules.json, index/vulns.json and ID/<id>.json for every
 * id of vulns.json. checkSnapshot accepts it only when the files agree with each
 * other, so that the mirror serves, and the index answers from, one consistent
 * copy. PURE: the caller reads the files.
 */
import { createHash } from 'node:crypto';
import { ModgateError } from '../errors.js';
import { ID_RE, parseDbIndex, parseEntry, type Entry } from './osv.js';

/** Caps on what a database may hold (the 2026 database: 4,789 entries, 21 MB). */
export const MAX_ENTRIES = 100_000;
export const MAX_FILE_BYTES = 4 * 1024 * 1024;
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;

export interface Snapshot {
  modified: string;
  /** sha256 over the files in path order ("<path>\n<sha256 hex>\n" each): names this copy in the audit trail. */
  sha256: string;
  entries: Entry[];
  /** Every file, by its path in the layout, as it came. */
  files: Map<string, Buffer>;
}

export interface VulnsIndexRow {
  id: string;
  modified: string;
}

function bad(why: string): ModgateError {
  return new ModgateError('VULNDB_INVALID', `vulnerability database: ${why}`, { reason: why });
}

function json(bytes: Buffer, name: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad(`${name} is not JSON`);
  }
}

/** index/vulns.json rows (id, modified), checked. */
export function parseVulnsIndex(bytes: Buffer): VulnsIndexRow[] {
  if (bytes.length > MAX_INDEX_BYTES) throw bad('index/vulns.json is too large');
  const rows = json(bytes, 'index/vulns.json');
  if (!Array.isArray(rows) || rows.length > MAX_ENTRIES)
    throw bad('index/vulns.json is not a list (or too long)');
  const seen = new Set<string>();
  return rows.map((r: unknown) => {
    const o = r as { id?: unknown; modified?: unknown };
    if (typeof o?.id !== 'string' || !ID_RE.test(o.id) || typeof o.modified !== 'string')
      throw bad('index/vulns.json has a malformed row');
    if (seen.has(o.id)) throw bad(`index/vulns.json lists ${o.id} twice`);
    seen.add(o.id);
    return { id: o.id, modified: o.modified };
  });
}

function modulePairs(bytes: Buffer): Set<string> {
  if (bytes.length > MAX_INDEX_BYTES) throw bad('index/modules.json is too large');
  const mods = json(bytes, 'index/modules.json');
  if (!Array.isArray(mods)) throw bad('index/modules.json is not a list');
  const pairs = new Set<string>();
  for (const m of mods as Array<{ path?: unknown; vulns?: unknown }>) {
    if (typeof m?.path !== 'string' || !Array.isArray(m.vulns))
      throw bad('index/modules.json has a malformed row');
    for (const v of m.vulns as Array<{ id?: unknown }>) {
      if (typeof v?.id !== 'string') throw bad('index/modules.json has a malformed vuln');
      pairs.add(`${m.path}\n${v.id}`);
    }
  }
  return pairs;
}

/** The sha256 that names a copy: over each file's path and sha256, in path order. */
export function snapshotHash(files: Map<string, Buffer>): string {
  const h = createHash('sha256');
  for (const p of [...files.keys()].sort()) {
    h.update(`${p}\n${createHash('sha256').update(files.get(p)!).digest('hex')}\n`);
  }
  return h.digest('hex');
}

/** Checks a complete copy; extra files (other than the layout's) are refused. */
export function checkSnapshot(files: Map<string, Buffer>): Snapshot {
  const need = (p: string): Buffer => {
    const b = files.get(p);
    if (!b) throw bad(`${p} is missing`);
    return b;
  };
  const { modified } = parseDbIndex(need('index/db.json'));
  const rows = parseVulnsIndex(need('index/vulns.json'));
  const pairs = modulePairs(need('index/modules.json'));
  const expected = new Set([
    'index/db.json',
    'index/vulns.json',
    'index/modules.json',
    ...rows.map((r) => `ID/${r.id}.json`),
  ]);
  for (const p of files.keys())
    if (!expected.has(p))
      throw bad(`${p} is not part of the v1 layout or not listed in index/vulns.json`);
  const entries: Entry[] = [];
  const derived = new Set<string>();
  for (const r of rows) {
    const bytes = need(`ID/${r.id}.json`);
    if (bytes.length > MAX_FILE_BYTES) throw bad(`ID/${r.id}.json is too large`);
    const e = parseEntry(bytes, r.id);
    if (e.modified !== r.modified)
      throw bad(`${r.id}: modified ${e.modified} differs from index/vulns.json (${r.modified})`);
    if (Date.parse(e.modified) > Date.parse(modified))
      throw bad(`${r.id} is newer than index/db.json`);
    for (const a of e.affected) derived.add(`${a.module}\n${e.id}`);
    entries.push(e);
  }
  if (derived.size !== pairs.size || [...derived].some((p) => !pairs.has(p)))
    throw bad('index/modules.json does not list the modules the entries name');
  return { modified, sha256: snapshotHash(files), entries, files };
}
