/**
 * Where a vulnerability database comes from: a URL in the v1 layout (read
 * over modgate's pinned upstream client), a vulndb.zip, or an unpacked folder
 * (air-gapped sites). Each read returns the layout's files as bytes; nothing
 * here trusts them: src/vuln/layout.ts checks the whole copy before it is
 * kept. Reads are bounded (file count, file size, total size).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import yauzl from 'yauzl';
import { ModgateError, isModgateError } from '../errors.js';
import type { UpstreamClient } from '../upstream/client.js';
import { MAX_ENTRIES, MAX_FILE_BYTES, MAX_INDEX_BYTES, parseVulnsIndex } from './layout.js';
import { parseDbIndex } from './osv.js';
import { zipEntries } from '../storage/zip-entries.js';

/** The total a copy may weigh (the 2026 database: 21 MB). */
export const MAX_TOTAL_BYTES = 512 * 1024 * 1024;
const LAYOUT_RE = /^(index\/(db|modules|vulns)\.json|ID\/GO-[0-9]{4}-[0-9]{4,7}\.json)$/;

export interface VulnSource {
  /** For logs and the audit trail (credentials never appear). */
  readonly label: string;
  /** index/db.json's modified, read cheaply before deciding to read the rest. */
  modified(signal: AbortSignal): Promise<string>;
  /**
   * Every file of the layout. `held` is the copy already kept: a URL source
   * reuses its entries whose modified is unchanged instead of fetching them.
   */
  files(signal: AbortSignal, held?: Map<string, Buffer>): Promise<Map<string, Buffer>>;
}

function unavailable(label: string, why: string): ModgateError {
  return new ModgateError('VULNDB_UNAVAILABLE', `vulnerability database ${label}: ${why}`, {
    source: label,
  });
}

function invalid(why: string): ModgateError {
  return new ModgateError('VULNDB_INVALID', `vulnerability database: ${why}`, { reason: why });
}

function capFor(p: string): number {
  return p.startsWith('index/') ? MAX_INDEX_BYTES : MAX_FILE_BYTES;
}

/** Reads a zip in the v1 layout (files at its root); anything else in it is refused. */
export async function readZip(file: string): Promise<Map<string, Buffer>> {
  const size = (await stat(file).catch(() => undefined))?.size;
  if (size === undefined) throw unavailable(file, 'cannot read the file');
  if (size > MAX_TOTAL_BYTES) throw invalid(`${file} is over ${MAX_TOTAL_BYTES} bytes`);
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, {
      lazyEntries: true,
      strictFileNames: true,
      validateEntrySizes: true,
    });
  } catch (err) {
    throw invalid(`${file} is not a zip (${(err as Error).message})`);
  }
  const out = new Map<string, Buffer>();
  let total = 0;
  try {
    for await (const entry of zipEntries(zip)) {
      const name = entry.fileName;
      if (name.endsWith('/')) continue;
      if (!LAYOUT_RE.test(name)) throw invalid(`${name} is not part of the v1 layout`);
      if (out.has(name)) throw invalid(`${name} appears twice`);
      if (out.size >= MAX_ENTRIES + 3) throw invalid('too many files');
      if (entry.uncompressedSize > capFor(name)) throw invalid(`${name} is too large`);
      total += entry.uncompressedSize;
      if (total > MAX_TOTAL_BYTES) throw invalid('the database is too large');
      const stream = await zip.openReadStreamPromise(entry);
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      out.set(name, Buffer.concat(chunks));
    }
  } catch (err) {
    if (isModgateError(err)) throw err;
    throw invalid(`${file}: ${(err as Error).message}`);
  } finally {
    zip.close();
  }
  return out;
}

/** Reads an unpacked copy (index/ and ID/); other files there are ignored. */
export async function readFolder(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let total = 0;
  const add = async (rel: string): Promise<void> => {
    const buf = await readFile(path.join(dir, rel)).catch(() => undefined);
    if (!buf) throw unavailable(dir, `cannot read ${rel}`);
    if (buf.length > capFor(rel)) throw invalid(`${rel} is too large`);
    total += buf.length;
    if (total > MAX_TOTAL_BYTES) throw invalid('the database is too large');
    out.set(rel, buf);
  };
  for (const f of ['db', 'modules', 'vulns']) await add(`index/${f}.json`);
  const ids = await readdir(path.join(dir, 'ID')).catch(() => undefined);
  if (!ids) throw unavailable(dir, 'has no ID folder');
  if (ids.length > MAX_ENTRIES) throw invalid('too many files');
  for (const f of ids.sort()) if (LAYOUT_RE.test(`ID/${f}`)) await add(`ID/${f}`);
  return out;
}

/** A zip or folder on local disk, re-read at every sync. */
export function localSource(location: string): VulnSource {
  const read = async (): Promise<Map<string, Buffer>> => {
    const st = await stat(location).catch(() => undefined);
    if (!st) throw unavailable(location, 'does not exist');
    return st.isDirectory() ? readFolder(location) : readZip(location);
  };
  return {
    label: location,
    async modified() {
      const st = await stat(location).catch(() => undefined);
      if (st?.isDirectory()) {
        const b = await readFile(path.join(location, 'index', 'db.json')).catch(() => undefined);
        if (!b) throw unavailable(location, 'cannot read index/db.json');
        return parseDbIndex(b).modified;
      }
      const files = await read();
      const db = files.get('index/db.json');
      if (!db) throw invalid('index/db.json is missing');
      return parseDbIndex(db).modified;
    },
    files: read,
  };
}

async function readCapped(body: AsyncIterable<Buffer>, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > max) throw invalid(`${what} is over ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * A URL in the v1 layout, fetched through the pinned upstream client (pins,
 * https rule, redirect rules, deadlines and retries as for module upstreams).
 */
export function urlSource(base: string, client: UpstreamClient, concurrency = 8): VulnSource {
  const root = base.replace(/\/+$/, '');
  const get = async (rel: string, signal: AbortSignal): Promise<Buffer> => {
    let res;
    try {
      res = await client.get(root, `/${rel}`, signal);
    } catch (err) {
      throw unavailable(root, `${rel}: ${(err as Error).message}`);
    }
    if (res.status !== 200) {
      await res.body.dump().catch(() => undefined);
      throw unavailable(root, `${rel}: HTTP ${res.status}`);
    }
    return readCapped(res.body, capFor(rel), rel);
  };
  return {
    label: root,
    async modified(signal) {
      return parseDbIndex(await get('index/db.json', signal)).modified;
    },
    async files(signal, held) {
      const out = new Map<string, Buffer>();
      for (const f of ['db', 'modules', 'vulns'])
        out.set(`index/${f}.json`, await get(`index/${f}.json`, signal));
      const rows = parseVulnsIndex(out.get('index/vulns.json')!);
      const heldModified = heldRows(held);
      const todo = rows.filter((r) => {
        const rel = `ID/${r.id}.json`;
        if (heldModified.get(r.id) === r.modified && held!.has(rel)) {
          out.set(rel, held!.get(rel)!);
          return false;
        }
        return true;
      });
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < todo.length) {
          const r = todo[next++]!;
          out.set(`ID/${r.id}.json`, await get(`ID/${r.id}.json`, signal));
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
      return out;
    },
  };
}

function heldRows(held?: Map<string, Buffer>): Map<string, string> {
  const out = new Map<string, string>();
  const b = held?.get('index/vulns.json');
  if (!b) return out;
  try {
    for (const r of parseVulnsIndex(b)) out.set(r.id, r.modified);
  } catch {
    // A held copy was checked when kept; if its index no longer parses, fetch everything.
  }
  return out;
}
