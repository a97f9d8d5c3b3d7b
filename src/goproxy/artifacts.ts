import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { licenseKeep, licensesOfKept } from '../license/scan.js';
import { fillLicenses } from './license-fill.js';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ModgateError, isModgateError } from '../errors.js';
import type { ChecksumVerifier, Evidence } from '../integrity/checksums.js';
import { hashGoMod } from '../integrity/dirhash.js';
import { verifyModuleZip } from '../integrity/zip.js';
import { ZipStreamDigester, type StreamedEntry } from '../integrity/zipstream.js';
import type { BlobInfo, BlobStore } from '../storage/types.js';
import { toUpstreamError, type UpstreamClient } from '../upstream/client.js';
import type { ArtifactKind } from './paths.js';
import { fetchFromRoute } from './source.js';
import type { Router } from './router.js';
import { artifactKey } from './keys.js';
import { ByteLru } from '../storage/lru.js';
import type { StateSealer } from '../storage/sealed.js';
import { EvidenceStore, type StoredEvidence } from './evidence.js';
import { matches, type Release } from './hit-stream.js';
import { HitReader, type StampOptions } from './hit-read.js';
import { checkInfo, readSmall, spool } from './spool.js';
import { both, quarantineKey, quarantineSpool, storeVerified } from './store-verified.js';
import type { FetchCap } from './fetch-cap.js';
import { SharedWork, type ClusterFlight } from './shared.js';
import { TaskSet } from './tasks.js';

export type { StoredEvidence } from './evidence.js';
export { checkInfo, spool } from './spool.js';

export interface ArtifactHit {
  key: string;
  /** size is the evidence's size: what is served as Content-Length. */
  info: BlobInfo;
  evidence: StoredEvidence;
  cache: 'hit' | 'miss';
  /** The whole artifact, already checked against its evidence (always set for .info and .mod). */
  body?: Buffer;
  /**
   * The artifact's bytes, checked against the evidence's sha256: a whole read
   * fails before its last bytes on a mismatch; a range is served only after
   * the whole file was checked.
   */
  open(range?: { start: number; end: number }, release?: Release): Promise<Readable>;
}

export interface ArtifactDeps {
  store: BlobStore;
  /** modgate's own local scratch folder where downloads are verified before they enter the store. */
  spoolDir: string;
  client: UpstreamClient;
  router: Router;
  checksums: ChecksumVerifier;
  sealer: StateSealer;
  /** The cap on downloads (zips and go.mod files) that are verified at once. */
  cap: FetchCap;
  limits: { zipBytes: number; modBytes: number; infoBytes: number };
  /** Byte budget of the in-memory LRU of small immutable artifacts, and its per-item cap. */
  memory: { bytes: number; maxItemBytes: number };
  /** Security events (checksum mismatch with the quarantine key, tampered cache entries). */
  onSecurity: (event: string, details: Record<string, unknown>) => Promise<void>;
  /** Single-flight across replicas (shared state); absent: this process only. */
  cluster?: ClusterFlight;
  /** Runs before every answer (hits too) when hits must not be served without the shared state. */
  guard?: () => Promise<void>;
  /** How verified local files are remembered by their stamp (hit-read.ts). */
  stamps?: StampOptions;
  /**
   * An upstream served bytes that failed verification (src/routing quarantines
   * it). True when another equivalent mirror may be asked for the same bytes.
   */
  onTampered?: (upstream: string, details: Record<string, unknown>) => Promise<boolean>;
}

type Want = { kind: ArtifactKind; module: string; version: string };
const NEVER = new AbortController().signal;
const DONE: Release = Promise.resolve();
/** Sources one miss may try after bytes failed verification (bounds the loop). */
const MAX_SOURCES = 4;
const TAMPER_CODES = new Set(['CHECKSUM_MISMATCH', 'TOFU_TAMPERED']);

/**
 * Fetch -> verify -> store for immutable artifacts (.info, .mod, .zip of a
 * canonical version). Nothing enters the store unless verified, nothing leaves
 * it unless it still matches its authenticated evidence; concurrent misses for
 * one artifact share a single upstream fetch.
 */
export class ArtifactService {
  readonly tasks = new TaskSet();
  private readonly flights = new SharedWork<ArtifactHit>(this.tasks);
  private readonly memory: ByteLru<ArtifactHit>;
  private readonly evidence: EvidenceStore;
  readonly reader: HitReader;

  constructor(private readonly d: ArtifactDeps) {
    this.memory = new ByteLru(d.memory.bytes);
    this.evidence = new EvidenceStore(d.store, d.sealer);
    this.reader = new HitReader(d.store, d.stamps);
  }

  get inflight(): number {
    return this.flights.size;
  }

  async get(
    module: string,
    version: string,
    kind: ArtifactKind,
    /** The request's signal, or a holder read only on a miss (a hit needs none). */
    lifetime: AbortSignal | { readonly signal: AbortSignal } = NEVER,
    /**
     * A client asked for it: once the upstream has answered a miss with the
     * bytes, the version's checksum-database lookup starts beside the
     * download (facts gathering does not ask for this, so a list's versions
     * are not looked up).
     */
    client = false,
  ): Promise<ArtifactHit> {
    const want: Want = { kind, module, version };
    const key = artifactKey(module, version, kind);
    await this.d.guard?.();
    const ready = await this.peek(want, key);
    if (ready) return ready;
    const signal = lifetime instanceof AbortSignal ? lifetime : lifetime.signal;
    const cluster = this.d.cluster;
    return this.flights.do(key, signal, async (s) =>
      cluster
        ? cluster.run(
            key,
            s,
            () => this.cached(want, key),
            (w) => this.fetch(want, key, w, client),
          )
        : ((await this.cached(want, key)) ?? this.fetch(want, key, s, client)),
    );
  }

  /** A cached, checked artifact, or null (no upstream request). */
  async peek(want: Want, key = artifactKey(want.module, want.version, want.kind)) {
    const hot = this.memory.get(key);
    // Without a body in memory the bytes are on disk: a changed length is caught before sending.
    if (hot && (hot.body || (await this.d.store.stat(key))?.size === hot.evidence.size)) return hot;
    return this.cached(want, key);
  }

  /** Aborts and awaits every download and background write. */
  close(): Promise<void> {
    return this.tasks.close();
  }

  private async cached(want: Want, key: string): Promise<ArtifactHit | null> {
    const info = await this.d.store.stat(key);
    if (!info) return null;
    const read = await this.evidence.read(key, want);
    if (read.state === 'absent') return null;
    if (read.state === 'tampered') return this.tamper(key, want, read.reason);
    const ev = read.evidence;
    if (info.size !== ev.size) return this.tamper(key, want, `has ${info.size} bytes`);
    let body: Buffer | undefined;
    if (want.kind !== 'zip' || ev.size <= this.d.memory.maxItemBytes) {
      body = (await this.d.store.getBytes(key)) ?? undefined;
      if (!body) return null;
      if (!matches(body, ev))
        return this.tamper(key, want, 'does not hash to the sha256 of its evidence');
    }
    if (want.kind === 'zip' && !ev.zip?.licenses) {
      const filled = await fillLicenses(
        {
          store: this.d.store,
          spoolDir: this.d.spoolDir,
          maxZipBytes: this.d.limits.zipBytes,
          write: (next) => this.evidence.write(key, next),
        },
        key,
        ev,
        body,
      );
      if (filled === null) return null;
      if (typeof filled === 'string') return this.tamper(key, want, filled);
      return this.hit(key, info, filled, 'hit', body);
    }
    return this.hit(key, info, ev, 'hit', body);
  }

  private hit(
    key: string,
    info: BlobInfo,
    evidence: StoredEvidence,
    cache: 'hit' | 'miss',
    body?: Buffer,
  ): ArtifactHit {
    const want: Want = { kind: evidence.kind, module: evidence.module, version: evidence.version };
    const make = (b?: Buffer): ArtifactHit => ({
      key,
      info: { ...info, size: evidence.size },
      evidence,
      cache: 'hit',
      ...(b ? { body: b } : {}),
      open: (range, release) => {
        const onMismatch = (reason: string) => this.tamper(key, want, reason).then(() => undefined);
        return this.reader.open(key, evidence, onMismatch, b, range, release ?? DONE);
      },
    });
    const hot = make(body);
    // Memory keeps small bodies and zip evidence; a large go.mod is read and checked each time.
    if (body && body.length <= this.d.memory.maxItemBytes)
      this.memory.set(key, hot, 512 + body.length);
    else if (evidence.kind === 'zip') this.memory.set(key, make(), 512);
    return { ...hot, cache };
  }

  /** A cached entry that fails its check: quarantined, reported, and treated as absent. */
  private async tamper(key: string, want: Want, reason: string): Promise<null> {
    this.memory.delete(key);
    this.reader.forget(key);
    const qkey = quarantineKey(key);
    // The changed bytes are kept for inspection (best effort: the refusal stands either way).
    const bytes = await this.d.store.openRead(key).catch(() => null);
    if (bytes) await this.d.store.put(qkey, bytes).catch(() => undefined);
    await this.d.store.delete(key).catch(() => undefined);
    await this.d.store.delete(EvidenceStore.keyOf(key)).catch(() => undefined);
    await this.d.onSecurity('CACHE_TAMPERED', { ...want, key, reason, quarantine: qkey });
    return null;
  }

  /** A miss; bytes that fail verification are refused, and asked again from another mirror. */
  private async fetch(
    want: Want,
    key: string,
    signal: AbortSignal,
    ahead: boolean,
  ): Promise<ArtifactHit> {
    for (let tries = 1; ; tries++) {
      const r = await this.fetchOnce(want, key, signal, ahead).then(
        (hit) => ({ hit }),
        (err: unknown) => ({ err }),
      );
      if ('hit' in r) return r.hit;
      const e = r.err;
      const from = isModgateError(e) && TAMPER_CODES.has(e.code) ? e.details.upstream : undefined;
      if (typeof from !== 'string' || !this.d.onTampered) throw e;
      const again = await this.d.onTampered(from, { ...want, code: (e as ModgateError).code });
      if (!again || tries >= MAX_SOURCES || signal.aborted) throw e;
    }
  }

  private async fetchOnce(
    want: Want,
    key: string,
    signal: AbortSignal,
    ahead: boolean,
  ): Promise<ArtifactHit> {
    const { kind, module, version } = want;
    let from: string | undefined;
    const release = kind === 'info' ? () => {} : await this.d.cap.acquire(signal);
    await mkdir(this.d.spoolDir, { recursive: true });
    const tmp = path.join(this.d.spoolDir, `${randomBytes(8).toString('hex')}.${kind}`);
    try {
      const route = this.d.router.route(module);
      const res = await fetchFromRoute(this.d.client, route, { kind, module, version }, signal);
      from = res.upstream;
      if (res.status === 404 || res.status === 410) {
        await res.body.dump().catch(() => undefined);
        throw notFound(
          res.status,
          `${module}@${version}: ${kind} not found upstream`,
          res.upstream,
        );
      }
      // The upstream has the version: its lookup runs while the body arrives (one per download).
      if (ahead) this.lookAhead(module, version);
      const max = this.d.limits[`${kind}Bytes`];
      const digester =
        kind === 'zip'
          ? new ZipStreamDigester(Buffer.from(`${module}@${version}/go.mod`))
          : undefined;
      const what = `${module}@${version} .${kind}`;
      const { sha256, size } = await spool(res.body, tmp, max, what, digester, signal).catch(
        (err: unknown) => {
          throw toUpstreamError(err, res.upstream);
        },
      );
      const checked = await this.verify(want, tmp, digester?.entries() ?? null);
      if (signal.aborted) throw toUpstreamError(signal.reason, res.upstream);
      const evidence: StoredEvidence = {
        ...checked.evidence,
        ...want,
        upstream: res.upstream,
        sha256,
        size,
        fetchedAt: new Date().toISOString(),
        ...(checked.zip ? { zip: checked.zip } : {}),
      };
      // Side by side: either one without the other reads as absent, never as verified.
      const body = await both(
        this.evidence.write(key, evidence),
        storeVerified(this.d.store, this.d.memory.maxItemBytes, { key, tmp, evidence, signal }),
      );
      return this.hit(key, { size, mtimeMs: Date.now() }, evidence, 'miss', body);
    } catch (err) {
      if (isModgateError(err, 'CHECKSUM_MISMATCH'))
        await this.quarantine(tmp, key, { ...err.details, ...(from ? { upstream: from } : {}) });
      else if (isModgateError(err, 'SUMDB_FORK') || isModgateError(err, 'TOFU_TAMPERED'))
        await this.d.onSecurity(err.code, { module, version, kind, ...err.details });
      throw servedBy(err, from);
    } finally {
      release();
      await rm(tmp, { force: true });
    }
  }

  private lookAhead(module: string, version: string): void {
    const lookup = this.d.checksums.prefetch(module, version);
    if (lookup) this.tasks.track(lookup);
  }

  private async verify(
    want: Want,
    file: string,
    streamed: StreamedEntry[] | null,
  ): Promise<{ evidence?: Evidence; zip?: StoredEvidence['zip'] }> {
    const { kind, module, version } = want;
    if (kind === 'info') {
      checkInfo(await readSmall(file), module, version);
      return {};
    }
    if (kind === 'mod') {
      const h1 = hashGoMod(await readSmall(file));
      return { evidence: await this.d.checksums.check(module, version, 'mod', h1) };
    }
    // Licenses are read from the verified zip only: the root license files, kept by verification.
    const report = await verifyModuleZip(
      file,
      { path: module, version },
      { streamed, keep: licenseKeep(module, version) },
    );
    const evidence = await this.d.checksums.check(module, version, 'zip', report.h1);
    const licenses = licensesOfKept(report.kept ?? [], module, version);
    return {
      evidence,
      zip: { fileCount: report.fileCount, uncompressedSize: report.uncompressedSize, licenses },
    };
  }

  private async quarantine(
    tmp: string,
    key: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    const qkey = await quarantineSpool(this.d.store, tmp, key);
    await this.d.onSecurity('CHECKSUM_MISMATCH', { ...details, quarantine: qkey });
  }
}

/** Names the upstream that served bytes failing verification (records and routing need it). */
function servedBy(err: unknown, upstream: string | undefined): unknown {
  if (!upstream || !isModgateError(err) || !TAMPER_CODES.has(err.code)) return err;
  if (err.details.upstream === upstream) return err;
  return new ModgateError(err.code, err.message, { ...err.details, upstream } as never, {
    cause: err,
  });
}

function notFound(status: number, message: string, upstream: string): ModgateError {
  return new ModgateError(status === 410 ? 'UPSTREAM_GONE' : 'UPSTREAM_NOT_FOUND', message, {
    status,
    upstream,
  });
}
