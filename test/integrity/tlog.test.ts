import t from 'tap';
import { createHash } from 'node:crypto';
import { isModgateError } from '../../src/errors.js';
import {
  checkRecord,
  checkTree,
  parseRecord,
  proveRecord,
  proveTree,
  recordHash,
  splitStoredHashIndex,
  storedHashCount,
  storedHashes,
  storedHashIndex,
  treeHash,
  type Hash,
  type HashReader,
} from '../../src/integrity/tlog.js';
import {
  newTiles,
  parseTilePath,
  readTileData,
  recordsFromDataTile,
  tileForIndex,
  tileHashReader,
  tilePath,
  type Tile,
  type TileReader,
} from '../../src/integrity/tiles.js';
import { formatDataTile, parseDataTile } from '../../src/integrity/sumdb/format.js';

async function codeOf(fn: () => unknown): Promise<string | null> {
  try {
    await fn();
    return null;
  } catch (e) {
    return isModgateError(e) ? e.code : `non-ModgateError: ${String(e)}`;
  }
}

/** RFC 6962 Merkle tree hash, written independently of tlog.ts. */
function mth(leaves: Hash[]): Hash {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  const node = Buffer.concat([Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k))]);
  return createHash('sha256').update(node).digest();
}

const N = 300;
const texts = Array.from({ length: N }, (_, i) => `example.com/m${i} v1.0.${i} h1:x=\n`);
const hashes: Hash[] = [];
const reader: HashReader = { readHashes: (ix) => ix.map((i) => hashes[i]!) };
const leaves = texts.map((x) => recordHash(x));

t.before(async () => {
  for (let i = 0; i < N; i++) hashes.push(...(await storedHashes(i, texts[i]!, reader)));
});

t.test('tree hashes match an independent RFC 6962 implementation', async (t) => {
  t.equal(hashes.length, storedHashCount(N));
  for (const n of [0, 1, 2, 3, 7, 8, 9, 100, 255, 256, 257, 299, 300]) {
    t.same(await treeHash(n, reader), mth(leaves.slice(0, n)), `n=${n}`);
  }
});

t.test('proofs verify, and tampered proofs do not', async (t) => {
  for (const [n, i] of [
    [300, 0],
    [300, 299],
    [257, 256],
    [256, 17],
    [1, 0],
    [2, 1],
  ] as const) {
    const p = await proveRecord(n, i, reader);
    const th = await treeHash(n, reader);
    checkRecord(p, n, th, i, leaves[i]!);
    t.equal(
      await codeOf(() => checkRecord(p, n, th, i, leaves[(i + 1) % N]!)),
      'TLOG_BAD_PROOF',
      `wrong leaf ${n}/${i}`,
    );
    if (p.length > 0) {
      const bad = p.map((h, j) => (j === 0 ? Buffer.from(h.map((b) => b ^ 1)) : h));
      t.equal(
        await codeOf(() => checkRecord(bad, n, th, i, leaves[i]!)),
        'TLOG_BAD_PROOF',
        `flipped ${n}/${i}`,
      );
      t.equal(
        await codeOf(() => checkRecord(p.slice(1), n, th, i, leaves[i]!)),
        'TLOG_BAD_PROOF',
        `short ${n}/${i}`,
      );
    }
    t.equal(
      await codeOf(() => checkRecord([...p, th], n, th, i, leaves[i]!)),
      'TLOG_BAD_PROOF',
      `long ${n}/${i}`,
    );
  }
  for (const [n, m] of [
    [300, 1],
    [300, 256],
    [300, 299],
    [257, 256],
    [5, 3],
  ] as const) {
    const p = await proveTree(n, m, reader);
    const th = await treeHash(n, reader);
    const h = await treeHash(m, reader);
    checkTree(p, n, th, m, h);
    t.equal(
      await codeOf(() => checkTree(p, n, th, m, leaves[299]!)),
      'TLOG_BAD_PROOF',
      `wrong old hash ${n}/${m}`,
    );
    t.equal(
      await codeOf(() => checkTree(p, n, leaves[0]!, m, h)),
      'TLOG_BAD_PROOF',
      `wrong new hash ${n}/${m}`,
    );
  }
  t.equal(await codeOf(() => proveRecord(5, 5, reader)), 'TLOG_INVALID_INPUT');
  t.equal(await codeOf(() => proveTree(5, 6, reader)), 'TLOG_INVALID_INPUT');
  t.equal(await codeOf(() => checkTree([], 5, leaves[0]!, 0, leaves[0]!)), 'TLOG_INVALID_INPUT');
});

t.test('stored hash index maths hold for large trees', async (t) => {
  for (const n of [2 ** 20, 2 ** 33 + 5, 2 ** 40 - 1]) {
    for (const level of [0, 1, 8, 16]) {
      const x = storedHashIndex(level, Math.floor(n / 2 ** level));
      t.same(splitStoredHashIndex(x), { level, n: Math.floor(n / 2 ** level) }, `${level}/${n}`);
    }
  }
  const tile = tileForIndex(8, storedHashIndex(0, 2 ** 40));
  t.equal(tilePath(tile), 'tile/8/0/x004/x294/x967/296.p/1');
  t.same(parseTilePath(tilePath(tile)), tile);
});

function tileReader(h: number, tamper?: (t: Tile, d: Buffer) => Buffer) {
  const saved: string[] = [];
  const tr: TileReader & { saved: string[] } = {
    height: h,
    saved,
    readTiles: (tiles) =>
      Promise.all(
        tiles.map(async (x) => {
          const d = await readTileData(x, reader);
          return tamper ? tamper(x, d) : d;
        }),
      ),
    saveTiles: (tiles) => void saved.push(...tiles.map(tilePath)),
  };
  return tr;
}

t.test('tileHashReader reads proven hashes and refuses bad tiles', async (t) => {
  for (const h of [1, 2, 3, 8]) {
    for (const size of [1, 5, 64, 255, 256, 257, 300]) {
      const tree = { n: size, hash: await treeHash(size, reader) };
      const want = [0, size - 1, Math.floor(size / 2)].map((i) => storedHashIndex(0, i));
      const tr = tileReader(h);
      t.same(
        await tileHashReader(tree, tr).readHashes(want),
        want.map((i) => hashes[i]),
        `h=${h} n=${size}`,
      );
      t.ok(tr.saved.length > 0, 'verified tiles are saved');
      t.same(await treeHash(size, tileHashReader(tree, tr)), tree.hash);
    }
  }
  const tree = { n: 300, hash: await treeHash(300, reader) };
  const ix = [storedHashIndex(0, 3)];
  const flip = tileReader(2, (x, d) =>
    x.l === 0 && x.n === 0 ? Buffer.from(d.map((b) => b ^ 1)) : d,
  );
  t.equal(
    await codeOf(() => tileHashReader(tree, flip).readHashes(ix)),
    'TLOG_BAD_TILE',
    'tampered leaf tile',
  );
  t.same(flip.saved, [], 'nothing is saved when verification fails');
  const top = tileReader(2, (x, d) => (x.l === 4 ? Buffer.from(d.map((b) => b ^ 1)) : d));
  t.equal(
    await codeOf(() => tileHashReader(tree, top).readHashes(ix)),
    'TLOG_BAD_TILE',
    'tampered top tile',
  );
  const short = tileReader(8, (_x, d) => d.subarray(0, d.length - 1));
  t.equal(
    await codeOf(() => tileHashReader(tree, short).readHashes(ix)),
    'TLOG_BAD_TILE',
    'truncated tile',
  );
  const other = { n: 300, hash: await treeHash(299, reader) };
  t.equal(
    await codeOf(() => tileHashReader(other, tileReader(8)).readHashes(ix)),
    'TLOG_BAD_TILE',
    'wrong tree',
  );
  const beyond = [storedHashIndex(0, 300)];
  t.equal(
    await codeOf(() => tileHashReader(tree, tileReader(8)).readHashes(beyond)),
    'TLOG_INVALID_INPUT',
  );
  t.same(newTiles(8, 0, 300).map(tilePath), [
    'tile/8/0/000',
    'tile/8/0/001.p/44',
    'tile/8/1/000.p/1',
  ]);
});

t.test('data tiles', async (t) => {
  const tile = parseTilePath('tile/2/data/001');
  const data = formatDataTile(texts.slice(4, 8));
  t.same(parseDataTile(data), texts.slice(4, 8));
  const hashTile = await readTileData({ h: 2, l: 0, n: 1, w: 4 }, reader);
  t.same(recordsFromDataTile(tile, data, hashTile), texts.slice(4, 8));
  const altered = formatDataTile([texts[4]!, texts[5]!, texts[7]!, texts[6]!]);
  t.equal(
    await codeOf(() => recordsFromDataTile(tile, altered, hashTile)),
    'TLOG_BAD_TILE',
    'reordered records',
  );
  t.equal(
    await codeOf(() => recordsFromDataTile(tile, formatDataTile(texts.slice(4, 7)), hashTile)),
    'TLOG_BAD_TILE',
  );
  t.equal(await codeOf(() => parseDataTile(Buffer.from('a\n\nb\n'))), 'TLOG_MALFORMED_RECORD');
  t.equal(
    await codeOf(() => parseRecord(Buffer.from('1\nno blank line\n'))),
    'TLOG_MALFORMED_RECORD',
  );
});
