import t from 'tap';
import { formatRecord } from '../../src/integrity/tlog.js';
import { SumdbClient, type SumdbTransportLike } from '../../src/integrity/sumdb/client.js';
import { MemorySumdbStore } from '../../src/integrity/sumdb/store.js';
import { MAX_MEMORY_TILES } from '../../src/integrity/sumdb/tile-source.js';
import { createFakeSumdb, type FakeRecord } from '../helpers/fake-sumdb.js';

const rec = (i: number): FakeRecord => ({
  path: `example.com/mod${i}`,
  version: `v1.0.${i}`,
  h1: `h1:zip${i}=`,
  modH1: `h1:mod${i}=`,
});
const records = (from: number, to: number): FakeRecord[] =>
  Array.from({ length: to - from }, (_, i) => rec(from + i));
const text = (i: number): string =>
  `example.com/mod${i} v1.0.${i} h1:zip${i}=\nexample.com/mod${i} v1.0.${i}/go.mod h1:mod${i}=\n`;

/** A store that counts reads and writes of tiles and heads. */
class CountingStore extends MemorySumdbStore {
  tileReads = 0;
  headWrites = 0;
  override async getTile(name: string, p: string): Promise<Buffer | null> {
    this.tileReads++;
    return super.getTile(name, p);
  }
  override async advanceHead(
    name: string,
    expected: Buffer | null,
    note: Buffer,
  ): Promise<boolean> {
    this.headWrites++;
    return super.advanceHead(name, expected, note);
  }
}

function client(
  db: { name: string; verifierKey: string },
  transport: SumdbTransportLike,
  store = new MemorySumdbStore(),
) {
  return new SumdbClient({
    name: db.name,
    verifierKey: db.verifierKey,
    transport,
    store,
    tileHeight: 2,
  });
}

t.test(
  'verified tiles are kept in memory: a proof over the same tiles reads nothing',
  async (t) => {
    const db = await createFakeSumdb({ records: records(0, 40) });
    const store = new CountingStore();
    const c = client(db, db.transport, store);
    await c.lookup('example.com/mod5', 'v1.0.5');
    const reads = store.tileReads;
    const tiles = db.requests.filter((r) => r.startsWith('/tile/')).length;
    t.ok(reads > 0 && tiles > 0, 'the first proof read its tiles');
    // Record 6 sits in the same tiles as record 5 (height 2: four records per tile).
    const res = await c.lookup('example.com/mod6', 'v1.0.6');
    t.equal(res.evidence.recordId, 6);
    t.equal(store.tileReads, reads, 'no tile read from the store');
    t.equal(
      db.requests.filter((r) => r.startsWith('/tile/')).length,
      tiles,
      'none from the server',
    );
    t.ok(MAX_MEMORY_TILES >= 256, 'the memory holds a useful number of tiles');
  },
);

t.test('concurrent lookups under one new head: one verification, one head write', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 64) });
  const store = new CountingStore();
  const c = client(db, db.transport, store);
  const all = await Promise.all(
    Array.from({ length: 20 }, (_, i) => c.lookup(`example.com/mod${i * 3}`, `v1.0.${i * 3}`)),
  );
  t.same(
    all.map((r) => r.evidence.recordId),
    Array.from({ length: 20 }, (_, i) => i * 3),
  );
  t.equal(store.headWrites, 1, 'the head was merged once');
  const tileReqs = db.requests.filter((r) => r.startsWith('/tile/'));
  t.equal(new Set(tileReqs).size, tileReqs.length, 'no tile fetched twice');
});

t.test('a tile that fails verification is neither kept nor trusted later', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 40) });
  const store = new MemorySumdbStore();
  const c = client(db, db.transport, store);
  await db.misbehave('tampered-tile');
  t.rejects(c.lookup('example.com/mod9', 'v1.0.9'), { code: 'SUMDB_BAD_TILE' });
  await c.lookup('example.com/mod9', 'v1.0.9').catch(() => undefined);
  t.equal(store.tiles.size, 0, 'no tampered tile stored');
  await db.misbehave('none');
  const before = db.requests.filter((r) => r.startsWith('/tile/')).length;
  const res = await c.lookup('example.com/mod9', 'v1.0.9');
  t.equal(res.evidence.recordId, 9, 'proven with honest tiles');
  t.ok(
    db.requests.filter((r) => r.startsWith('/tile/')).length > before,
    'the tiles were fetched again, not taken from memory',
  );
});

t.test(
  'a lookup under the verified head is not held behind an advance to a newer head',
  async (t) => {
    const db = await createFakeSumdb({ records: records(0, 10) });
    const head10 = await db.signedHead(10);
    let holding = false;
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    let heldTile!: () => void;
    const tileHeld = new Promise<void>((r) => (heldTile = r));
    const transport: SumdbTransportLike = {
      async get(p) {
        if (p === '/lookup/example.com/mod6@v1.0.6')
          return Buffer.concat([formatRecord(6, text(6)), head10]);
        if (holding && p.startsWith('/tile/')) {
          heldTile();
          await hold;
        }
        return db.transport.get(p);
      },
    };
    const c = client(db, transport);
    // Verifies head 10 and keeps the tiles of record 5, which record 6 shares.
    await c.lookup('example.com/mod5', 'v1.0.5');
    await db.add(records(10, 40));
    holding = true;
    // Record 25 comes with head 40: its consistency check with head 10 waits on held tiles.
    let advanced = false;
    const a = c.lookup('example.com/mod25', 'v1.0.25').finally(() => (advanced = true));
    await tileHeld;
    const b = await c.lookup('example.com/mod6', 'v1.0.6');
    t.equal(b.evidence.treeSize, 10, 'answered under the verified head');
    t.equal(advanced, false, 'while the advance was still waiting');
    release();
    t.equal((await a).evidence.treeSize, 40);
  },
);
