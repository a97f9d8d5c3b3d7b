import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ModgateError, isModgateError } from '../errors.js';
import type { ChecksumVerifier, Evidence } from '../integrity/checksums.js';
import { hashGoMod } from '../integrity/dirhash.js';
import { matchPathMajor, splitPathVersion } from '../integrity/module.js';
import { verifyModuleZip } from '../integrity/zip.js';
import { ZipStreamDigester, type StreamedEntry } from '../integrity/zipstream.js';
import type { BlobInfo, BlobStore } from '../storage/types.js';
import { getFromChain, toUpstreamError, type UpstreamClient } from '../upstream/client.js';
import { SizeLimit } from '../upstream/limit.js';
import { SingleFlight } from '../upstream/singleflight.js';
import { upstreamPath, type ArtifactKind } from './paths.js';
import type { Router } from './router.js';
import { artifactKey } from './keys.js';
import { ByteLru } from '../storage/lru.js';

export interface StoredEvidence extends Partial<Evidence> {
  kind: ArtifactKind;
  module: string;
  version: string;
  upstream: string;
  sha256: string;
  size: number;
  fetchedAt: string;
  zip?: { fileCount: number; uncompressedSize: number };
}

export interface ArtifactHit {
  key: string;
  info: BlobInfo;
  evidence: StoredEvidence;
  cache: 'hit' | 'miss';
  /** The whole artifact, when small enough to be kept in the memory cache. */
  body?: Buffer;
}

export interface ArtifactDeps {
  store: BlobStore;
  client: UpstreamClient;
  router: Router;
  checksums: ChecksumVerifier;
  limits: { zipBytes: number; modBytes: number; infoBytes: number };
  /** Byte budget of the in-memory LRU of small immutable artifacts, and its per-item cap. */
  memory: { bytes: number; maxItemBytes: number };
  /** Called with the bad bytes' quarantine key on a checksum mismatch. */
  onSecurity: (event: string, details: Record<string, unknown>) => Promise<void>;
}

/**
 * Fetch -> verify -> store for immutable artifacts (.info, .mod, .zip of a
 * canonical version). Nothing enters the store unless verified; concurrent
 * misses for one artifact share a single upstream fetch.
 */
export class ArtifactService {
  private readonly flights = new SingleFlight<ArtifactHit>();
  private readonly memory: ByteLru<ArtifactHit>;

  constructor(private readonly d: ArtifactDeps) {
    this.memory = new ByteLru(d.memory.bytes);
  }

  get inflight(): number {
    return this.flights.size;
  }

  async get(module: string, version: string, kind: ArtifactKind): Promise<ArtifactHit> {
    const key = artifactKey(module, version, kind);
    const hot = this.memory.get(key);
    if (hot) return hot;
    const cached = await this.cached(key);
    if (cached) return cached;
    return this.flights.do(
      key,
      async () => (await this.cached(key)) ?? this.fetch(module, version, kind, key),
    );
  }

  /** Reads a small stored artifact (.info, .mod) whole. */
  async read(key: string): Promise<Buffer> {
    const hot = this.memory.get(key)?.body;
    if (hot) return hot;
    const raw = await this.d.store.getBytes(key);
    if (!raw) throw new ModgateError('STORAGE_UNAVAILABLE', `stored ${key} vanished`);
    return raw;
  }

  async cached(key: string): Promise<ArtifactHit | null> {
    const info = await this.d.store.stat(key);
    if (!info) return null;
    const ev = await this.d.store.getBytes(`${key}.evidence.json`);
    if (!ev) return null;
    const hit: ArtifactHit = {
      key,
      info,
      evidence: JSON.parse(ev.toString('utf8')) as StoredEvidence,
      cache: 'hit',
    };
    await this.remember(hit);
    return hit;
  }

  /** Keeps the evidence (and, when small, the bytes) of a verified artifact in memory. */
  private async remember(hit: ArtifactHit): Promise<void> {
    const small = hit.info.size <= this.d.memory.maxItemBytes;
    const body = small ? ((await this.d.store.getBytes(hit.key)) ?? undefined) : undefined;
    if (small && body?.length !== hit.info.size) return;
    const hot: ArtifactHit = { ...hit, cache: 'hit', ...(body ? { body } : {}) };
    this.memory.set(hit.key, hot, 512 + (body?.length ?? 0));
  }

  private async fetch(
    module: string,
    version: string,
    kind: ArtifactKind,
    key: string,
  ): Promise<ArtifactHit> {
    const route = this.d.router.route(module);
    const res = await getFromChain(
      this.d.client,
      route.chain,
      upstreamPath({ kind, module, version }),
    );
    if (res.status === 404 || res.status === 410) {
      await res.body.dump().catch(() => undefined);
      throw notFound(res.status, `${module}@${version}: ${kind} not found upstream`);
    }
    const max =
      kind === 'zip'
        ? this.d.limits.zipBytes
        : kind === 'mod'
          ? this.d.limits.modBytes
          : this.d.limits.infoBytes;
    const tmp = path.join(
      await this.d.store.tempDir(),
      `${randomBytes(8).toString('hex')}.${kind}`,
    );
    try {
      const digester =
        kind === 'zip'
          ? new ZipStreamDigester(Buffer.from(`${module}@${version}/go.mod`))
          : undefined;
      const { sha256, size, synced } = await spool(
        res.body,
        tmp,
        max,
        `${module}@${version} .${kind}`,
        digester,
      ).catch((err: unknown) => {
        throw toUpstreamError(err, res.upstream);
      });
      // Verification overlaps the fsync; both finish before the file enters the store.
      const [checked] = await Promise.all([
        this.verify(module, version, kind, tmp, digester?.entries() ?? null),
        synced,
      ]);
      const evidence: StoredEvidence = {
        ...checked.evidence,
        kind,
        module,
        version,
        upstream: res.upstream,
        sha256,
        size,
        fetchedAt: new Date().toISOString(),
        ...(checked.zip ? { zip: checked.zip } : {}),
      };
      await this.d.store.putBytes(`${key}.evidence.json`, JSON.stringify(evidence));
      await this.d.store.putFile(key, tmp);
      const info = await this.d.store.stat(key);
      if (!info) throw new ModgateError('STORAGE_UNAVAILABLE', `stored ${key} is not readable`);
      const hit: ArtifactHit = { key, info, evidence, cache: 'miss' };
      await this.remember(hit);
      return hit;
    } catch (err) {
      if (isModgateError(err, 'CHECKSUM_MISMATCH')) await this.quarantine(tmp, key, err.details);
      else if (isModgateError(err, 'SUMDB_FORK'))
        await this.d.onSecurity('SUMDB_FORK', { module, version, ...err.details });
      throw err;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  private async verify(
    module: string,
    version: string,
    kind: ArtifactKind,
    file: string,
    streamed: StreamedEntry[] | null,
  ): Promise<{ evidence?: Evidence; zip?: StoredEvidence['zip'] }> {
    if (kind === 'info') {
      checkInfo(await readSmall(file), module, version);
      return {};
    }
    if (kind === 'mod') {
      const h1 = hashGoMod(await readSmall(file));
      return { evidence: await this.d.checksums.check(module, version, 'mod', h1) };
    }
    const report = await verifyModuleZip(file, { path: module, version }, { streamed });
    const evidence = await this.d.checksums.check(module, version, 'zip', report.h1);
    return {
      evidence,
      zip: { fileCount: report.fileCount, uncompressedSize: report.uncompressedSize },
    };
  }

  private async quarantine(
    tmp: string,
    key: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    const qkey = `quarantine/${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}/${path.basename(key)}`;
    try {
      await this.d.store.putFile(qkey, tmp);
    } catch {
      // Quarantine is best effort: the refusal stands either way.
    }
    await this.d.onSecurity('CHECKSUM_MISMATCH', { ...details, quarantine: qkey });
  }
}

function notFound(status: number, message: string): ModgateError {
  return new ModgateError(status === 410 ? 'UPSTREAM_GONE' : 'UPSTREAM_NOT_FOUND', message, {
    status,
  });
}

/**
 * Streams a body to a temp file with a size cap, hashing as it goes. The
 * returned `synced` settles once the file is fsynced, so that callers can
 * verify the bytes meanwhile.
 */
export async function spool(
  body: NodeJS.ReadableStream,
  file: string,
  max: number,
  what: string,
  inspect?: Transform,
): Promise<{ sha256: string; size: number; synced: Promise<void> }> {
  const hash = createHash('sha256');
  const limit = new SizeLimit(max, what);
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const sink = createWriteStream(file, { flags: 'wx', mode: 0o644 });
  await (inspect ? pipeline(body, limit, tap, inspect, sink) : pipeline(body, limit, tap, sink));
  const synced = (async () => {
    const fh = await open(file, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  })();
  synced.catch(() => undefined);
  return { sha256: hash.digest('hex'), size: limit.bytes, synced };
}

async function readSmall(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * An .info for a canonical version that suits the module path must name that
 * version (as the go command demands); its Time, if present, is RFC 3339.
 */
export function checkInfo(
  raw: Buffer,
  module: string,
  version: string,
): { Version?: string; Time?: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ModgateError('INFO_INVALID', `upstream .info for ${version} is not JSON`);
  }
  const info = doc as { Version?: unknown; Time?: unknown };
  const [, pathMajor] = splitPathVersion(module);
  const mustMatch = matchPathMajor(version, pathMajor);
  if (typeof doc !== 'object' || doc === null || (mustMatch && info.Version !== version)) {
    throw new ModgateError(
      'INFO_INVALID',
      `upstream .info names version ${JSON.stringify(info?.Version)}, not ${version}`,
    );
  }
  if (info.Time !== undefined && (typeof info.Time !== 'string' || !RFC3339.test(info.Time))) {
    throw new ModgateError(
      'INFO_INVALID',
      `upstream .info for ${version} has a Time that is not RFC 3339`,
    );
  }
  return info as { Version?: string; Time?: string };
}
