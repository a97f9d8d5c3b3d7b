/**
 * Where the checksum-database client gets tiles: the store (verified tiles are
 * immutable), else the server. A partial tile the server no longer has is cut
 * from the full tile, as the go command does. Tiles are saved only after
 * tileHashReader has verified them.
 */
import { ModgateError } from '../../errors.js';
import { tilePath, type Tile, type TileReader } from '../tiles.js';
import type { SumdbStore } from './store.js';
import type { SumdbLogger } from './types.js';

const MAX_SAVED_MARKS = 10_000;

export class TileSource implements TileReader {
  private readonly inFlight = new Map<string, Promise<Buffer>>();
  private readonly saved = new Set<string>();

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
    await Promise.all(tiles.map((t, i) => this.saveTile(tilePath(t), data[i]!)));
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
