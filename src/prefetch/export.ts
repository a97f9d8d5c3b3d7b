/**
 * `modgate prefetch --export DIR`: a GOPROXY tree of the bytes the gateway
 * served (`DIR/<escaped path>/@v/<version>.info|.mod|.zip` and `list`), the
 * manifest `DIR/modgate-export.json`, and the checksum-database evidence an
 * importing gateway verifies offline: the signed `latest`, the `lookup`
 * records and the tiles their proofs need, read through the gateway's /sumdb/
 * relay in its URL layout under `DIR/sumdb/<name>/`. Every file is written
 * atomically (temp file, fsync, rename).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModgateError } from '../errors.js';
import { escapePath, escapeVersion } from '../integrity/module.js';
import { hashGoMod } from '../integrity/dirhash.js';
import { hashZipFile } from '../integrity/zip.js';
import { SumdbClient } from '../integrity/sumdb/client.js';
import { MemorySumdbStore } from '../integrity/sumdb/store.js';
import { escapeLookupElem } from '../integrity/sumdb/support.js';
import { compare } from '../integrity/semver.js';
import { syncDir, writeFileAtomic } from '../storage/atomic.js';
import type { Kind } from './inputs.js';
import type { GatewayClient } from './gateway-client.js';
import type { Entry } from './summary.js';

export const MANIFEST = 'modgate-export.json';
export const EXPORT_FORMAT = 'modgate-export/1';

export interface ManifestEntry {
  module: string;
  version: string;
  /** The artifacts exported: info and mod, and zip unless go.sum named only the go.mod. */
  kinds: Kind[];
  mod: { h1: string; size: number; sha256: string };
  zip?: { h1: string; size: number; sha256: string };
}

export interface Manifest {
  format: typeof EXPORT_FORMAT;
  exportedAt: string;
  gateway: string;
  /** The checksum database whose evidence is under sumdb/<name>/ (absent: none, e.g. sumdb off). */
  sumdb?: string;
  modules: ManifestEntry[];
}

/** Where an artifact goes in the tree (the proxy protocol's escaped path). */
export function artifactFile(dir: string, module: string, version: string, kind: Kind): string {
  return path.join(
    dir,
    ...escapePath(module).split('/'),
    '@v',
    `${escapeVersion(version)}.${kind}`,
  );
}

/** Streams a body into `file` atomically; returns its size and sha256. */
export async function writeStream(
  file: string,
  body: AsyncIterable<Buffer>,
): Promise<{ size: number; sha256: string }> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const fh = await open(tmp, 'wx', 0o644);
  const h = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of body) {
      h.update(chunk);
      size += chunk.length;
      await fh.write(chunk);
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(path.dirname(file));
  return { size, sha256: h.digest('hex') };
}

/** Whether the exported file of a fetched entry is still there with the bytes the summary names. */
export async function stillExported(dir: string, e: Entry): Promise<boolean> {
  try {
    const data = await readFile(artifactFile(dir, e.module, e.version, e.kind));
    return createHash('sha256').update(data).digest('hex') === e.sha256;
  } catch {
    return false;
  }
}

/**
 * Completes the export from the run's entries: a module version goes in only
 * when every artifact asked for it was fetched; the files of one that was not
 * are removed (a resumed run may have written them before). Writes each
 * module's `list` and the manifest.
 */
export async function finishExport(
  dir: string,
  gateway: string,
  entries: readonly Entry[],
  sumdb: string | undefined,
): Promise<Manifest> {
  const byVersion = new Map<string, Entry[]>();
  for (const e of entries) {
    const k = `${e.module}@${e.version}`;
    byVersion.set(k, [...(byVersion.get(k) ?? []), e]);
  }
  const modules: ManifestEntry[] = [];
  for (const list of byVersion.values()) {
    const { module, version } = list[0]!;
    if (list.some((e) => e.status !== 'fetched')) {
      for (const e of list) await rm(artifactFile(dir, module, version, e.kind), { force: true });
      continue;
    }
    const modFile = artifactFile(dir, module, version, 'mod');
    const modBytes = await readFile(modFile);
    const entry: ManifestEntry = {
      module,
      version,
      kinds: list.map((e) => e.kind),
      mod: { h1: hashGoMod(modBytes), size: modBytes.length, sha256: sha256(modBytes) },
    };
    if (list.some((e) => e.kind === 'zip')) {
      const zipFile = artifactFile(dir, module, version, 'zip');
      entry.zip = {
        h1: await hashZipFile(zipFile),
        size: (await stat(zipFile)).size,
        sha256: list.find((e) => e.kind === 'zip')!.sha256 ?? '',
      };
    }
    modules.push(entry);
  }
  await writeLists(dir, modules);
  const manifest: Manifest = {
    format: EXPORT_FORMAT,
    exportedAt: new Date().toISOString(),
    gateway,
    ...(sumdb ? { sumdb } : {}),
    modules,
  };
  await writeFileAtomic(path.join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Each module's `list`: the versions exported, in semver order. */
async function writeLists(dir: string, modules: readonly ManifestEntry[]): Promise<void> {
  const versions = new Map<string, string[]>();
  for (const m of modules) versions.set(m.module, [...(versions.get(m.module) ?? []), m.version]);
  for (const [module, vs] of versions) {
    const file = path.join(dir, ...escapePath(module).split('/'), '@v', 'list');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, `${[...vs].sort(compare).join('\n')}\n`);
  }
}

function sumdbFile(dir: string, name: string, p: string): string {
  const parts = p.split('/').filter(Boolean);
  if (parts.some((x) => x === '.' || x === '..'))
    throw new ModgateError('EXPORT_INVALID', `unsafe checksum database path ${p}`);
  return path.join(dir, 'sumdb', ...name.split('/'), ...parts);
}

/**
 * The checksum-database evidence of the exported modules, read through the
 * gateway's relay and verified here too (with the configured key): every
 * answer the verification needed (latest, each lookup, each tile) is written
 * under DIR/sumdb/<name>/, which is what the importing side will need to
 * verify the same records. Private modules (never looked up) are skipped.
 * Returns the module versions whose evidence could not be had, with why.
 */
export async function exportSumdb(
  dir: string,
  gateway: GatewayClient,
  db: { name: string; verifierKey: string },
  modules: ReadonlyArray<{ module: string; version: string }>,
): Promise<Array<{ module: string; version: string; reason: string }>> {
  const fetchBody = async (p: string): Promise<Buffer | null> => {
    const got = await gateway.get(`/sumdb/${db.name}${p}`, collect);
    if (!got.ok) {
      if (got.status === 404 || got.status === 410) return null;
      throw new ModgateError(
        'SUMDB_UNAVAILABLE',
        `${db.name}${p} through ${gateway.base}: ${got.code ?? got.status ?? ''} ${got.reason.split('\n')[0]}`,
      );
    }
    const body = got.result as Buffer;
    await mkdir(path.dirname(sumdbFile(dir, db.name, p)), { recursive: true });
    await writeFileAtomic(sumdbFile(dir, db.name, p), body);
    return body;
  };
  const client = new SumdbClient({
    name: db.name,
    verifierKey: db.verifierKey,
    transport: { get: fetchBody },
    store: new MemorySumdbStore(),
  });
  await client.latest();
  const missing: Array<{ module: string; version: string; reason: string }> = [];
  for (const m of modules) {
    try {
      escapeLookupElem(m.module, 'path');
      await client.lookup(m.module, m.version);
    } catch (err) {
      missing.push({ ...m, reason: (err as Error).message.split('\n')[0]! });
    }
  }
  return missing;
}

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > 1 << 20) throw new Error('checksum database answer over 1 MiB');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
