/**
 * The checksum-database relay for clients (go.dev/ref/mod "Checksum database"
 * via a proxy: <proxy>/sumdb/<name>/...). It speaks only that protocol and
 * serves only what it has verified with the verifying client of
 * src/integrity/sumdb/:
 *
 * - `supported`: answered here.
 * - `latest`: the client's newest verified head, refreshed at most every
 *   latestTtlSeconds; a head that does not verify or is inconsistent with the
 *   stored one is never served (a fork raises the alarm) and the stored head
 *   is served instead.
 * - `lookup/M@V`: M and V are parsed and checked as a module path and a
 *   canonical version; private modules are answered 404 here and never
 *   forwarded. The record is verified by the client (signature, inclusion in a
 *   tree consistent with the stored head) and checked once more against the
 *   tree by this relay before it is served with the verified head.
 * - `tile/H/L/N[.p/W]` and `tile/H/data/N[.p/W]`: hash tiles are rebuilt from
 *   hashes read through a reader that verifies every tile against a verified
 *   head; data tiles are served only when each record hashes to its verified
 *   leaf.
 *
 * Anything else is REQUEST_INVALID before any upstream request. No HTTP here:
 * src/http/sumdb-routes.ts serves it.
 */
import { ModgateError, isModgateError } from '../errors.js';
import { checkModule, unescapePath, unescapeVersion } from '../integrity/module.js';
import { asSumdbError, type SumdbClient } from '../integrity/sumdb/client.js';
import type { SumdbStore } from '../integrity/sumdb/store.js';
import { TileSource } from '../integrity/sumdb/tile-source.js';
import type { LookupResult, SignedHead, SumdbTransportLike } from '../integrity/sumdb/types.js';
import {
  parseTilePath,
  readTileData,
  recordsFromDataTile,
  tileHashReader,
  tilePath,
  type Tile,
} from '../integrity/tiles.js';
import { formatDataTile } from '../integrity/sumdb/format.js';
import { formatRecord, recordHash, storedHashIndex, type Tree } from '../integrity/tlog.js';
import { canonicalVersion } from './paths.js';

export type RelayRequest =
  | { op: 'supported' }
  | { op: 'latest' }
  | { op: 'lookup'; module: string; version: string }
  | { op: 'tile'; tile: Tile; path: string };

export interface RelayAnswer {
  body: Buffer;
  /** Immutable answers (full tiles) may be cached by clients for good. */
  immutable: boolean;
  /** The stored head was served because a fresh one could not be verified. */
  stale?: string;
}

export interface SumdbRelayOptions {
  name: string;
  client: SumdbClient;
  transport: SumdbTransportLike;
  store: SumdbStore;
  tileHeight?: number;
  latestTtlSeconds: number;
  isPrivate: (modulePath: string) => boolean;
  onSecurity?: (event: string, details: Record<string, unknown>) => void;
  onVerified?: (seconds: number) => void;
  now?: () => number;
}

const MAX_SUB = 2048;
const INCONSISTENT = new Set(['SUMDB_FORK', 'SUMDB_BAD_TILE', 'SUMDB_BAD_PROOF']);
/** Errors already reported (latest() reports before serving the stored head). */
const alarmed = new WeakSet<Error>();

const invalid = (msg: string): ModgateError => new ModgateError('REQUEST_INVALID', msg);

/** Parses the part after /sumdb/<name>/; throws REQUEST_INVALID for anything but the protocol. */
export function parseRelayPath(sub: string, height: number): RelayRequest {
  if (sub.length > MAX_SUB) throw invalid('checksum database path too long');
  if (sub === 'supported') return { op: 'supported' };
  if (sub === 'latest') return { op: 'latest' };
  if (sub.startsWith('lookup/')) {
    const at = sub.lastIndexOf('@');
    if (at < 0) throw invalid(`lookup needs module@version: ${JSON.stringify(sub)}`);
    let module: string;
    let version: string;
    try {
      module = unescapePath(sub.slice('lookup/'.length, at));
      version = unescapeVersion(sub.slice(at + 1));
      checkModule(module, version);
    } catch (err) {
      throw invalid(`invalid lookup: ${(err as Error).message}`);
    }
    if (canonicalVersion(version) !== version)
      throw invalid(`lookup version ${JSON.stringify(version)} is not canonical`);
    return { op: 'lookup', module, version };
  }
  if (sub.startsWith('tile/')) {
    let tile: Tile;
    try {
      tile = parseTilePath(sub);
    } catch {
      throw invalid(`malformed tile path ${JSON.stringify(sub)}`);
    }
    if (tile.h !== height) throw invalid(`tile height must be ${height}, got ${tile.h}`);
    return { op: 'tile', tile, path: sub };
  }
  throw invalid(`not a checksum database path: ${JSON.stringify(sub)}`);
}

export class SumdbRelay {
  readonly name: string;
  readonly height: number;
  private readonly tiles: TileSource;
  private latestAt = 0;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly o: SumdbRelayOptions) {
    this.name = o.name;
    this.height = o.tileHeight ?? 8;
    // The client's tiles: what a lookup has just proven is what the go command asks for next.
    this.tiles =
      o.client.tiles.height === this.height
        ? o.client.tiles
        : new TileSource(o.name, this.height, o.store, (p) => this.fetch(p));
  }

  parse(sub: string): RelayRequest {
    return parseRelayPath(sub, this.height);
  }

  async serve(req: RelayRequest): Promise<RelayAnswer> {
    try {
      return await this.answer(req);
    } catch (err) {
      this.alarm(err);
      throw err;
    }
  }

  private answer(req: RelayRequest): Promise<RelayAnswer> | RelayAnswer {
    switch (req.op) {
      case 'supported':
        return { body: Buffer.alloc(0), immutable: false };
      case 'latest':
        return this.latest();
      case 'lookup':
        return this.lookup(req.module, req.version);
      case 'tile':
        return this.tile(req.tile, req.path);
    }
  }

  private async latest(): Promise<RelayAnswer> {
    const now = (this.o.now ?? Date.now)();
    let stale: string | undefined;
    if (now - this.latestAt >= this.o.latestTtlSeconds * 1000) {
      this.refreshing ??= this.o.client
        .latest()
        .then(() => {
          this.latestAt = (this.o.now ?? Date.now)();
        })
        .finally(() => (this.refreshing = undefined));
      try {
        await this.refreshing;
      } catch (err) {
        const e = asSumdbError(err);
        const stored = await this.o.client.head();
        // A signed head that the stored head's tiles cannot be reconciled with is a fork.
        const fork = stored && INCONSISTENT.has(e.code);
        this.alarm(e, fork ? 'SUMDB_FORK' : undefined);
        stale = fork && e.code !== 'SUMDB_FORK' ? `SUMDB_FORK (${e.code})` : e.code;
        if (!stored) throw e;
      }
    }
    const head = await this.o.client.head();
    if (!head) throw new ModgateError('SUMDB_UNAVAILABLE', `${this.name}: no verified tree head`);
    return { body: Buffer.from(head.signedHead), immutable: false, ...(stale ? { stale } : {}) };
  }

  /** Answers that prove the database (or a path to it) lies are security events. */
  private alarm(err: unknown, as?: string): void {
    if (!isModgateError(err) || alarmed.has(err)) return;
    const e = err;
    const event =
      (as ?? e.code === 'SUMDB_FORK')
        ? 'SUMDB_FORK'
        : e.code.startsWith('NOTE_')
          ? 'SUMDB_BAD_SIGNATURE'
          : e.code === 'SUMDB_BAD_PROOF' || e.code === 'SUMDB_BAD_TILE'
            ? e.code
            : undefined;
    if (!event) return;
    alarmed.add(e);
    this.o.onSecurity?.(event, {
      name: this.name,
      code: e.code,
      message: e.message.split('\n')[0],
    });
  }

  private async lookup(module: string, version: string): Promise<RelayAnswer> {
    if (this.o.isPrivate(module)) {
      throw new ModgateError(
        'PRIVATE_LOOKUP_REFUSED',
        `${module} is private: modgate does not look it up in ${this.name}`,
      );
    }
    const started = performance.now();
    let res: LookupResult;
    try {
      res = await this.o.client.lookup(module, version);
    } catch (err) {
      if (isModgateError(err, 'SUMDB_NOT_FOUND'))
        throw new ModgateError('NOT_FOUND', `${this.name}: no record for ${module}@${version}`);
      throw err;
    }
    const ev = res.evidence;
    // The relay serves the record it checked itself against the verified tree, not upstream bytes.
    const text = `${res.lines.join('\n')}\n`;
    const [leaf] = await tileHashReader(treeOf(ev), this.tiles).readHashes([
      storedHashIndex(0, ev.recordId),
    ]);
    if (!leaf || !leaf.equals(recordHash(text))) {
      throw new ModgateError(
        'SUMDB_BAD_PROOF',
        `${this.name}: record ${ev.recordId} for ${module}@${version} does not match the tree`,
      );
    }
    this.o.onVerified?.((performance.now() - started) / 1000);
    return {
      body: Buffer.concat([formatRecord(ev.recordId, text), Buffer.from(ev.signedHead)]),
      immutable: false,
    };
  }

  private async tile(t: Tile, path: string): Promise<RelayAnswer> {
    const started = performance.now();
    const head = await this.headCovering(t);
    const reader = tileHashReader(treeOf(head), this.tiles);
    let body: Buffer;
    try {
      if (t.l >= 0) body = await readTileData(t, reader);
      else body = await this.dataTile(t, path, reader);
    } catch (err) {
      throw asSumdbError(err);
    }
    this.o.onVerified?.((performance.now() - started) / 1000);
    return { body, immutable: t.w === 2 ** t.h };
  }

  private async dataTile(
    t: Tile,
    path: string,
    reader: ReturnType<typeof tileHashReader>,
  ): Promise<Buffer> {
    const stored = await this.o.store.getTile(this.name, path);
    if (stored) return stored;
    const data = await this.fetch(`/${path}`);
    if (!data) throw new ModgateError('NOT_FOUND', `${this.name}/${path}: not found`);
    const hashes = await readTileData({ h: t.h, l: 0, n: t.n, w: t.w }, reader);
    const texts = recordsFromDataTile(t, data, hashes);
    if (!formatDataTile(texts).equals(data))
      throw new ModgateError('SUMDB_BAD_TILE', `${this.name}/${path}: not a canonical data tile`);
    await this.o.store.putTile(this.name, path, data);
    return data;
  }

  /** A verified head whose tree holds every hash of t (refreshing the head once if needed). */
  private async headCovering(t: Tile): Promise<SignedHead> {
    const level = t.l < 0 ? 0 : t.l * t.h;
    const need = (t.n * 2 ** t.h + t.w) * 2 ** level;
    let head = await this.o.client.head();
    if (!head || head.treeSize < need) {
      await this.latest().catch(() => undefined);
      head = await this.o.client.head();
    }
    if (!head || head.treeSize < need)
      throw new ModgateError('NOT_FOUND', `${this.name}/${tilePath(t)}: beyond the verified tree`);
    return head;
  }

  private async fetch(path: string): Promise<Buffer | null> {
    try {
      return await this.o.transport.get(path);
    } catch (err) {
      throw asSumdbError(err);
    }
  }
}

function treeOf(h: SignedHead): Tree {
  return { n: h.treeSize, hash: Buffer.from(h.rootHash, 'base64') };
}
