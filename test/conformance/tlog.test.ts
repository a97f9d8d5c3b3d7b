import t from 'tap';
import { conformance, readJson } from '../helpers/testdata.js';
import { isModgateError } from '../../src/errors.js';
import {
  checkRecord,
  checkTree,
  formatRecord,
  formatTree,
  nodeHash,
  parseHash,
  parseRecord,
  parseTree,
  proveRecord,
  proveTree,
  recordHash,
  splitStoredHashIndex,
  storedHashCount,
  storedHashes,
  storedHashIndex,
  treeHash,
  EMPTY_TREE_HASH,
  type Hash,
  type HashReader,
} from '../../src/integrity/tlog.js';
import {
  hashFromTile,
  newTiles,
  parseTilePath,
  readTileData,
  tileForIndex,
  tileHashReader,
  tilePath,
  type Tile,
} from '../../src/integrity/tiles.js';

type MaybeBytes = string | { utf8: false; hex: string };
const bytes = (v: MaybeBytes): Buffer =>
  typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.hex, 'hex');
const b64 = (h: Hash): string => h.toString('base64');

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return isModgateError(e) ? e.code : `non-ModgateError: ${String(e)}`;
  }
}

interface TlogJson {
  formatRecord: Array<{ err: string | null; id: number; msg: string; text: MaybeBytes }>;
  parseRecord: Array<{
    err: string | null;
    id?: number;
    in: MaybeBytes;
    rest?: MaybeBytes;
    text?: string;
  }>;
  formatTree: { hash: string; n: number; want: string };
  parseTree: Array<{ err: string | null; hash?: string; in: string; n?: number }>;
  hashes: Record<string, string>;
  newTiles: Array<{
    h: number;
    oldTreeSize: number;
    newTreeSize: number;
    tiles: string[] | null;
    wantCount: number;
  }>;
  storedHashCount: Array<{ count: number; n: number }>;
  storedHashIndex: Array<{ index: number; level: number; n: number }>;
  tileForIndex: Array<{ h: number; index: number; tile: string }>;
  tilePaths: Array<{
    err: string | null;
    path: string;
    roundTrip?: string;
    tile?: { H: number; L: number; N: number; W: number };
  }>;
}

t.test('tlog.json', async (t) => {
  conformance(t);
  const d = await readJson<TlogJson>('xmod-tables', 'tlog.json');

  t.test('hashes', async (t) => {
    t.equal(b64(EMPTY_TREE_HASH), d.hashes.emptyTreeHash);
    t.equal(b64(recordHash('hello world')), d.hashes["recordHash('hello world')"]);
    t.equal(
      b64(nodeHash(recordHash('leaf 0'), recordHash('leaf 1'))),
      d.hashes["nodeHash(leaf0,leaf1) of 'leaf 0','leaf 1'"],
    );
  });

  t.test('records', async (t) => {
    for (const c of d.formatRecord) {
      if (c.err)
        t.equal(
          codeOf(() => formatRecord(c.id, bytes(c.text))),
          'TLOG_MALFORMED_RECORD',
          JSON.stringify(c.text),
        );
      else t.equal(formatRecord(c.id, bytes(c.text)).toString('utf8'), c.msg);
    }
    for (const c of d.parseRecord) {
      if (c.err) {
        t.equal(
          codeOf(() => parseRecord(bytes(c.in))),
          'TLOG_MALFORMED_RECORD',
          JSON.stringify(c.in),
        );
        continue;
      }
      const r = parseRecord(bytes(c.in));
      t.same([r.id, r.text, r.rest], [c.id, c.text, bytes(c.rest!)], JSON.stringify(c.in));
    }
  });

  t.test('trees', async (t) => {
    t.equal(
      formatTree({ n: d.formatTree.n, hash: parseHash(d.formatTree.hash) }),
      d.formatTree.want,
    );
    for (const c of d.parseTree) {
      if (c.err) {
        t.equal(
          codeOf(() => parseTree(c.in)),
          'TLOG_MALFORMED_TREE',
          JSON.stringify(c.in),
        );
        continue;
      }
      const tree = parseTree(c.in);
      t.same([tree.n, b64(tree.hash)], [c.n, c.hash], JSON.stringify(c.in));
    }
  });

  t.test('stored hash index maths', async (t) => {
    for (const c of d.storedHashIndex) {
      t.equal(storedHashIndex(c.level, c.n), c.index, `index(${c.level}, ${c.n})`);
      t.same(splitStoredHashIndex(c.index), { level: c.level, n: c.n }, `split(${c.index})`);
    }
    for (const c of d.storedHashCount) t.equal(storedHashCount(c.n), c.count, `count(${c.n})`);
    let bad = 0;
    for (let i = 0; i < 5000; i++) {
      const { level, n } = splitStoredHashIndex(i);
      if (storedHashIndex(level, n) !== i) bad++;
    }
    t.equal(bad, 0, 'split and index are inverse for the first 5000 indexes');
  });

  t.test('tiles', async (t) => {
    for (const c of d.tileForIndex)
      t.equal(tilePath(tileForIndex(c.h, c.index)), c.tile, `tileForIndex(${c.h}, ${c.index})`);
    for (const c of d.tilePaths) {
      if (c.err) {
        t.equal(
          codeOf(() => parseTilePath(c.path)),
          'TLOG_BAD_TILE_PATH',
          c.path,
        );
        continue;
      }
      const tile = parseTilePath(c.path);
      t.same(tile, { h: c.tile!.H, l: c.tile!.L, n: c.tile!.N, w: c.tile!.W }, c.path);
      t.equal(tilePath(tile), c.roundTrip, `${c.path} round trip`);
    }
    for (const c of d.newTiles) {
      const got = newTiles(c.h, c.oldTreeSize, c.newTreeSize);
      t.equal(
        got.length,
        c.wantCount,
        `newTiles(${c.h}, ${c.oldTreeSize}, ${c.newTreeSize}) count`,
      );
      if (c.tiles) t.same(got.map(tilePath).slice(0, c.tiles.length), c.tiles);
    }
  });
});

interface Tree100 {
  records: string[];
  leafHashes: string[];
  treeHashes: string[];
  storedHashes: string[][];
  recordProofs: Array<{ index: number; n: number; proof: string[] | null }>;
  treeProofs: Array<{ m: number; n: number; proof: string[] | null }>;
  negativeChecks: Array<{
    kind: string;
    err: string;
    n: number;
    index?: number;
    m?: number;
    leafHash?: string;
    oldHash?: string;
    proof: string[];
    treeHash: string;
  }>;
  tiles: Record<string, string>;
}

t.test('tlog_tree100.json', async (t) => {
  conformance(t);
  const d = await readJson<Tree100>('xmod-tables', 'tlog_tree100.json');
  const all: Hash[] = [];
  const reader: HashReader = { readHashes: (ix) => ix.map((i) => all[i]!) };
  let storedOk = 0;
  for (let i = 0; i < d.records.length; i++) {
    const hs = await storedHashes(i, d.records[i]!, reader);
    if (JSON.stringify(hs.map(b64)) === JSON.stringify(d.storedHashes[i])) storedOk++;
    all.push(...hs);
    t.equal(b64(recordHash(d.records[i]!)), d.leafHashes[i]);
    t.equal(b64(await treeHash(i + 1, reader)), d.treeHashes[i], `treeHash(${i + 1})`);
  }
  t.equal(storedOk, 100, 'stored hashes of all 100 records');
  const proofs = (p: string[] | null): Hash[] => (p ?? []).map(parseHash);

  let rp = 0;
  for (const c of d.recordProofs) {
    const p = await proveRecord(c.n, c.index, reader);
    const th = parseHash(d.treeHashes[c.n - 1]!);
    if (JSON.stringify(p.map(b64)) === JSON.stringify(c.proof ?? [])) {
      checkRecord(proofs(c.proof), c.n, th, c.index, parseHash(d.leafHashes[c.index]!));
      rp++;
    }
  }
  t.equal(
    rp,
    d.recordProofs.length,
    `${d.recordProofs.length} inclusion proofs produced and checked`,
  );
  t.equal(d.recordProofs.length, 2551);

  let tp = 0;
  for (const c of d.treeProofs) {
    const p = await proveTree(c.n, c.m, reader);
    if (JSON.stringify(p.map(b64)) === JSON.stringify(c.proof ?? [])) {
      checkTree(
        proofs(c.proof),
        c.n,
        parseHash(d.treeHashes[c.n - 1]!),
        c.m,
        parseHash(d.treeHashes[c.m - 1]!),
      );
      tp++;
    }
  }
  t.equal(
    tp,
    d.treeProofs.length,
    `${d.treeProofs.length} consistency proofs produced and checked`,
  );
  t.equal(d.treeProofs.length, 2520);

  for (const c of d.negativeChecks) {
    const want = c.err === 'invalid transparency proof' ? 'TLOG_BAD_PROOF' : 'TLOG_INVALID_INPUT';
    const run =
      c.kind === 'record'
        ? () =>
            checkRecord(
              proofs(c.proof),
              c.n,
              parseHash(c.treeHash),
              c.index!,
              parseHash(c.leafHash!),
            )
        : () => checkTree(proofs(c.proof), c.n, parseHash(c.treeHash), c.m!, parseHash(c.oldHash!));
    t.equal(
      codeOf(run),
      want,
      `negative: ${c.kind} ${JSON.stringify((c as { desc?: string }).desc ?? '')}`,
    );
  }

  t.test('tiles of height 2 and 8', async (t) => {
    for (const [key, data] of Object.entries(d.tiles)) {
      const size = key.startsWith('size37:') ? 37 : 100;
      const tile = parseTilePath(key.replace(/^size37:/, ''));
      const got = await readTileData(tile, reader);
      t.equal(got.toString('base64'), data, key);
      const tree = { n: size, hash: parseHash(d.treeHashes[size - 1]!) };
      const tr = {
        height: tile.h,
        readTiles: async (ts: Tile[]) => Promise.all(ts.map((x) => readTileData(x, reader))),
      };
      const first = tile.n * 2 ** tile.h;
      const idx = storedHashIndex(tile.h * tile.l, first);
      t.same(hashFromTile(tile, got, idx), all[idx], `${key}: hashFromTile`);
      t.same(
        await tileHashReader(tree, tr).readHashes([idx]),
        [all[idx]],
        `${key}: via tileHashReader(${size})`,
      );
    }
  });
});
