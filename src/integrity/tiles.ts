/**
 * Tiles of a tamper-evident log (golang.org/x/mod/sumdb/tlog tile.go): a tile
 * of height h holds 2^h hashes of one level range; partial tiles ".p/W" hold
 * the first W. Data tiles ("data" level) hold record texts instead.
 *
 * Error codes (besides those of tlog.ts):
 * | code               | meaning                                                        |
 * |--------------------|----------------------------------------------------------------|
 * | TLOG_BAD_TILE_PATH | a tile path is malformed or not canonical                      |
 * | TLOG_BAD_TILE      | tile data has the wrong size or is inconsistent with the tree  |
 */
import { ModgateError } from '../errors.js';
import { parseDataTile } from './sumdb/format.js';
import {
  HASH_SIZE,
  nodeHash,
  recordHash,
  shl,
  shr,
  splitStoredHashIndex,
  storedHashIndex,
  subTreeIndex,
  type Hash,
  type HashReader,
  type Tree,
} from './tlog.js';

/** h: height (1..30); l: level (-1 for data tiles); n: number within level; w: width (1..2^h). */
export interface Tile {
  h: number;
  l: number;
  n: number;
  w: number;
}

/** Fetches tiles (each exactly w*32 bytes for hash tiles) and keeps verified ones. */
export interface TileReader {
  readonly height: number;
  readTiles(tiles: Tile[]): Promise<Buffer[]>;
  /** Called with tiles that were verified against the tree. */
  saveTiles?(tiles: Tile[], data: Buffer[]): void | Promise<void>;
}

const PATH_BASE = 1000;

function tileAt(h: number, index: number): { tile: Tile; start: number; end: number } {
  const split = splitStoredHashIndex(index);
  let { level, n } = split;
  const l = Math.floor(level / h);
  level -= l * h;
  const tn = shr(shl(n, level), h);
  n -= shr(shl(tn, h), level);
  return {
    tile: { h, l, n: tn, w: shl(n + 1, level) },
    start: shl(n, level) * HASH_SIZE,
    end: shl(n + 1, level) * HASH_SIZE,
  };
}

/** The smallest tile of height h holding the stored hash `index`. */
export function tileForIndex(h: number, index: number): Tile {
  if (!(h > 0)) throw new ModgateError('TLOG_INVALID_INPUT', `invalid tile height ${h}`);
  return tileAt(h, index).tile;
}

export function tilePath(t: Tile): string {
  let n = t.n;
  let s = String(n % PATH_BASE).padStart(3, '0');
  while (n >= PATH_BASE) {
    n = Math.floor(n / PATH_BASE);
    s = `x${String(n % PATH_BASE).padStart(3, '0')}/${s}`;
  }
  const p = t.w !== 2 ** t.h ? `.p/${t.w}` : '';
  return `tile/${t.h}/${t.l === -1 ? 'data' : t.l}/${s}${p}`;
}

const atoi = (s: string): number => (/^[+-]?[0-9]+$/.test(s) ? Number(s) : NaN);

/** Parses "tile/H/L/NNN[.p/W]" (L may be "data"); only canonical paths are accepted. */
export function parseTilePath(path: string): Tile {
  const bad = (): ModgateError =>
    new ModgateError('TLOG_BAD_TILE_PATH', `malformed tile path ${JSON.stringify(path)}`);
  let f = path.split('/');
  if (f.length < 4 || f[0] !== 'tile') throw bad();
  const h = atoi(f[1]!);
  const isData = f[2] === 'data';
  const l = isData ? 0 : atoi(f[2]!);
  if (!(h >= 1 && h <= 30 && l >= 0 && l < 64)) throw bad();
  let w = 2 ** h;
  const dotP = f[f.length - 2]!;
  if (dotP.endsWith('.p')) {
    const ww = atoi(f[f.length - 1]!);
    if (!(ww > 0 && ww < w)) throw bad();
    w = ww;
    f = [...f.slice(0, -2), dotP.slice(0, -2)];
  }
  let n = 0;
  for (const s of f.slice(3)) {
    const nn = atoi(s.startsWith('x') ? s.slice(1) : s);
    if (!(nn >= 0 && nn < PATH_BASE)) throw bad();
    n = n * PATH_BASE + nn;
  }
  const t: Tile = { h, l: isData ? -1 : l, n, w };
  if (!Number.isSafeInteger(n) || tilePath(t) !== path) throw bad();
  return t;
}

function tileHash(data: Buffer): Hash {
  if (data.length === HASH_SIZE) return data.subarray(0, HASH_SIZE);
  const half = data.length / 2;
  return nodeHash(tileHash(data.subarray(0, half)), tileHash(data.subarray(half)));
}

/**
 * Hashes already computed over ranges of a tile's bytes, by the Buffer that
 * holds them. A TileReader that keeps verified tiles hands out the same
 * Buffer for every proof, so a tile's subtree hashes are computed once
 * rather than for every lookup and every tile the relay serves; the checks
 * themselves still run each time. Tile buffers are never written to once read.
 */
const rangeHashes = new WeakMap<Buffer, Map<number, Hash>>();

function rangeHash(data: Buffer, start: number, end: number): Hash {
  if (end - start === HASH_SIZE) return data.subarray(start, end);
  let known = rangeHashes.get(data);
  if (!known) rangeHashes.set(data, (known = new Map()));
  const key = start * (data.length + 1) + end;
  let h = known.get(key);
  if (!h) known.set(key, (h = tileHash(data.subarray(start, end))));
  return h;
}

/** The stored hash `index`, computed from the data of tile t. */
export function hashFromTile(t: Tile, data: Buffer, index: number): Hash {
  if (t.h < 1 || t.h > 30 || t.l < 0 || t.l >= 64 || t.w < 1 || t.w > 2 ** t.h) {
    throw new ModgateError('TLOG_BAD_TILE', `invalid tile ${tilePath(t)}`);
  }
  if (data.length < t.w * HASH_SIZE) {
    throw new ModgateError(
      'TLOG_BAD_TILE',
      `data len ${data.length} too short for tile ${tilePath(t)}`,
    );
  }
  const { tile: t1, start, end } = tileAt(t.h, index);
  if (t.l !== t1.l || t.n !== t1.n || t.w < t1.w) {
    throw new ModgateError(
      'TLOG_BAD_TILE',
      `index ${index} is in ${tilePath(t1)} not ${tilePath(t)}`,
    );
  }
  return rangeHash(data, start, end);
}

/** The tiles that must be published when the tree grows from oldSize to newSize. */
export function newTiles(h: number, oldSize: number, newSize: number): Tile[] {
  const out: Tile[] = [];
  for (let level = 0; shr(newSize, h * level) > 0; level++) {
    const oldN = shr(oldSize, h * level);
    const newN = shr(newSize, h * level);
    if (oldN === newN) continue;
    for (let n = shr(oldN, h); n < shr(newN, h); n++) out.push({ h, l: level, n, w: 2 ** h });
    const n = shr(newN, h);
    const w = newN - shl(n, h);
    if (w > 0) out.push({ h, l: level, n, w });
  }
  return out;
}

/** The contents of hash tile t, read from a complete hash store. */
export async function readTileData(t: Tile, r: HashReader): Promise<Buffer> {
  const start = shl(t.n, t.h);
  const indexes = Array.from({ length: t.w }, (_, i) => storedHashIndex(t.h * t.l, start + i));
  const hashes = await r.readHashes(indexes);
  if (hashes.length !== indexes.length)
    throw new ModgateError('TLOG_BAD_READER', 'hash reader returned the wrong number of hashes');
  return Buffer.concat(hashes);
}

/** The tile k levels of tiles above t, cut to the tree of n records; null if empty. */
function tileParent(t: Tile, k: number, n: number): Tile | null {
  const p: Tile = { h: t.h, l: t.l + k, n: shr(t.n, k * t.h), w: 2 ** t.h };
  const max = shr(n, p.l * p.h);
  if (shl(p.n, p.h) + p.w >= max) {
    if (shl(p.n, p.h) >= max) return null;
    p.w = max - shl(p.n, p.h);
  }
  return p;
}

const inconsistent = (): ModgateError =>
  new ModgateError('TLOG_BAD_TILE', 'downloaded inconsistent tile');

/**
 * A HashReader over tiles that checks every tile it reads against the tree's
 * root hash (and each lower tile against its parent) before trusting it.
 */
export function tileHashReader(tree: Tree, tr: TileReader): HashReader {
  return { readHashes: (indexes) => readHashesFromTiles(tree, tr, indexes) };
}

async function readHashesFromTiles(tree: Tree, tr: TileReader, indexes: number[]): Promise<Hash[]> {
  const h = tr.height;
  const order = new Map<string, number>();
  const tiles: Tile[] = [];
  const add = (t: Tile): number => {
    const key = tilePath(t);
    const have = order.get(key);
    if (have !== undefined) return have;
    order.set(key, tiles.length);
    tiles.push(t);
    return tiles.length - 1;
  };
  const stx = subTreeIndex(0, tree.n);
  const stxOrder = stx.map((x) => add(tileParent(tileAt(h, x).tile, 0, tree.n)!));
  const numStxTiles = tiles.length;
  const limit = storedHashIndex(0, tree.n);
  const indexOrder = indexes.map((x) => {
    if (!(x >= 0 && x < limit)) throw new ModgateError('TLOG_INVALID_INPUT', 'indexes not in tree');
    const t = tileAt(h, x).tile;
    let k = 0;
    while (k < 64 && !order.has(tilePath(tileParent(t, k, tree.n)!))) k++;
    for (k--; k >= 0; k--) add(tileParent(t, k, tree.n)!);
    return order.get(tilePath(tileParent(t, 0, tree.n)!))!;
  });
  if (stx.length === 0) return [];
  const data = await tr.readTiles(tiles);
  if (data.length !== tiles.length)
    throw new ModgateError('TLOG_BAD_TILE', 'tile reader returned the wrong number of tiles');
  tiles.forEach((t, i) => {
    if (data[i]!.length !== t.w * HASH_SIZE) {
      throw new ModgateError(
        'TLOG_BAD_TILE',
        `tile ${tilePath(t)} has ${data[i]!.length} bytes, want ${t.w * HASH_SIZE}`,
      );
    }
  });
  let th = hashFromTile(
    tiles[stxOrder[stx.length - 1]!]!,
    data[stxOrder[stx.length - 1]!]!,
    stx[stx.length - 1]!,
  );
  for (let i = stx.length - 2; i >= 0; i--)
    th = nodeHash(hashFromTile(tiles[stxOrder[i]!]!, data[stxOrder[i]!]!, stx[i]!), th);
  if (!th.equals(tree.hash)) throw inconsistent();
  for (let i = numStxTiles; i < tiles.length; i++) {
    const t = tiles[i]!;
    const p = tileParent(t, 1, tree.n)!;
    const j = order.get(tilePath(p));
    if (j === undefined) throw inconsistent();
    const want = hashFromTile(p, data[j]!, storedHashIndex(p.l * p.h, t.n));
    if (!want.equals(rangeHash(data[i]!, 0, data[i]!.length))) throw inconsistent();
  }
  await tr.saveTiles?.(tiles, data);
  return indexes.map((x, i) => hashFromTile(tiles[indexOrder[i]!]!, data[indexOrder[i]!]!, x));
}

/**
 * The record texts of data tile t, checked against the level-0 hash tile with
 * the same number (which must itself be verified). Throws TLOG_BAD_TILE.
 */
export function recordsFromDataTile(t: Tile, data: Buffer, hashTile: Buffer): string[] {
  if (t.l !== -1 || hashTile.length < t.w * HASH_SIZE)
    throw new ModgateError('TLOG_BAD_TILE', `not a data tile with its hashes: ${tilePath(t)}`);
  const texts = parseDataTile(data);
  if (texts.length !== t.w)
    throw new ModgateError(
      'TLOG_BAD_TILE',
      `data tile ${tilePath(t)} has ${texts.length} records, want ${t.w}`,
    );
  texts.forEach((text, i) => {
    if (!recordHash(text).equals(hashTile.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE))) {
      throw new ModgateError(
        'TLOG_BAD_TILE',
        `record ${shl(t.n, t.h) + i} in ${tilePath(t)} does not match its hash`,
      );
    }
  });
  return texts;
}
