/**
 * Where the checksum-database client gets tiles: memory, then the store
 * (verified tiles are immutable), else the server. A partial tile the server
 * no longer has is cut from the full tile, as the go command does. Tiles are
 * saved, and kept in memory, only after tileHashReader has verified them; a
 * tile read from memory is verified again against the tree of every read,
 * like any other.
 */
import { ModgateError } from '../../errors.js';
import { tilePath, type Tile, type TileReader } from '../tiles.js';
import type { SumdbStore } from './store.js';
import type { SumdbLogger } from './types.js';

const MAX_SAVED_MARKS = 10_000;
/**
 * Verified tiles kept in memory (at most 8 KiB each at height 8: 8 MiB). The
 * tiles near the tree's right edge are read by every proof, and the go command
 * asks the relay for the tiles the client has just verified.
 */
export const MAX_MEMORY_TILES = 1024;

export class TileSource implements TileReader {
  private readonly inFlight = new Map<string, Promise<Buffer>>();
  private readonly saved = new Set<string>();
  private readonly memory = new Map<string, Buffer>();

  constructor(
    private readonly name: string,
    readonly height: number,
    private readonly store: SumdbStore,
    private readonly fetch: (path: string) => Promise<Buffer | null>,
    private readonly logger?: SumdbLogger,
  ) {}

  readTiles(tiles: Tile[]): Promise<Buffer[]> {
    return Promise.all(tiles.map((t) => this.readTile(t)));
  }

  async saveTiles(tiles: Tile[], data: Buffer[]): Promise<void> {
    await Promise.all(
      tiles.map((t, i) => {
        const path = tilePath(t);
        this.remember(path, data[i]!);
        return this.saveTile(path, data[i]!);
      }),
    );
  }

  /**
   * A reader that ignores the store and saves nothing: used to re-check a new
   * head with the server's own tiles when stored tiles disagree with it.
   */
  remoteOnly(): TileReader {
    return {
      height: this.height,
      readTiles: (tiles) => Promise.all(tiles.map((t) => this.loadRemote(t))),
    };
  }

  private readTile(t: Tile): Promise<Buffer> {
    const path = tilePath(t);
    const kept = this.memory.get(path);
    if (kept) {
      // Least recently used first out: move it to the end.
      this.memory.delete(path);
      this.memory.set(path, kept);
      return Promise.resolve(kept);
    }
    let p = this.inFlight.get(path);
    if (!p) {
      p = this.loadTile(t).finally(() => this.inFlight.delete(path));
      this.inFlight.set(path, p);
    }
    return p;
  }

  private async loadTile(t: Tile): Promise<Buffer> {
    const path = tilePath(t);
    const full: Tile = { ...t, w: 2 ** t.h };
    const partial = full.w !== t.w;
    const cut = (data: Buffer): Buffer => data.subarray(0, Math.floor(data.length / full.w) * t.w);
    const stored = await this.store.getTile(this.name, path);
    if (stored) {
      this.mark(path);
      return stored;
    }
    const storedFull = partial ? await this.store.getTile(this.name, tilePath(full)) : null;
    if (storedFull) {
      this.mark(path);
      return cut(storedFull);
    }
    return this.loadRemote(t);
  }

  private async loadRemote(t: Tile): Promise<Buffer> {
    const path = tilePath(t);
    const full: Tile = { ...t, w: 2 ** t.h };
    const data = await this.fetch(`/${path}`);
    if (data) return data;
    const fullData = full.w !== t.w ? await this.fetch(`/${tilePath(full)}`) : null;
    if (fullData) return fullData.subarray(0, Math.floor(fullData.length / full.w) * t.w);
    throw new ModgateError('SUMDB_BAD_TILE', `${this.name}/${path}: tile not found`);
  }

  /** Keeps a verified tile (its own copy, which nothing writes to), or refreshes it. */
  private remember(path: string, data: Buffer): void {
    const kept = this.memory.get(path);
    this.memory.delete(path);
    this.memory.set(path, kept ?? Buffer.from(data));
    for (const k of this.memory.keys()) {
      if (this.memory.size <= MAX_MEMORY_TILES) break;
      this.memory.delete(k);
    }
  }

  private mark(path: string): void {
    if (this.saved.size >= MAX_SAVED_MARKS) this.saved.clear();
    this.saved.add(path);
  }

  private async saveTile(path: string, data: Buffer): Promise<void> {
    if (this.saved.has(path)) return;
    this.mark(path);
    await this.store.putTile(this.name, path, data).catch((err: unknown) => {
      this.saved.delete(path);
      this.logger?.warn?.({ err, tile: path }, 'cannot save checksum database tile');
    });
  }
}
