import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { isModgateError } from '../../src/errors.js';
import { generateKeyPair, parseSignerKey, signNote } from '../../src/integrity/note.js';
import { formatTree, parseTree } from '../../src/integrity/tlog.js';
import { SumdbClient } from '../../src/integrity/sumdb/client.js';
import { FsSumdbStore } from '../../src/integrity/sumdb/fs-store.js';
import {
  MemorySumdbStore,
  type ForkEvidence,
  type SumdbStore,
} from '../../src/integrity/sumdb/store.js';
import { MemoryBacking, MemoryState } from '../../src/state/memory.js';
import { StateSumdbStore } from '../../src/state/sumdb.js';
import { createFakeSumdb, type FakeRecord, type FakeSumdbCore } from '../helpers/fake-sumdb.js';

const rec = (i: number): FakeRecord => ({
  path: `example.com/mod${i}`,
  version: `v1.0.${i}`,
  h1: `h1:zip${i}=`,
  modH1: `h1:mod${i}=`,
});
const records = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => rec(from + i));

const client = (db: FakeSumdbCore, store: SumdbStore) =>
  new SumdbClient({
    name: db.name,
    verifierKey: db.verifierKey,
    transport: db.transport,
    store,
    tileHeight: 2,
  });

const sizeOf = (note: string | null) => (note ? parseTree(note.split('\n\n')[0] + '\n').n : -1);

async function codeOf(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return isModgateError(e) ? e.code : `non-ModgateError: ${String(e)}`;
  }
}

/** Two replicas: each its own tiles, one shared state. */
function replicas(backing = new MemoryBacking()) {
  const state = (id: string) => new MemoryState(id, backing);
  const a = new StateSumdbStore(new MemorySumdbStore(), state('a'));
  const b = new StateSumdbStore(new MemorySumdbStore(), state('b'));
  return { backing, a, b };
}

t.test('a lost compare-and-set race adopts the other replica head, then advances', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 20) });
  const { backing, a, b } = replicas();
  const A = client(db, a);
  await A.lookup('example.com/mod5', 'v1.0.5');
  t.equal(sizeOf(backing.heads.get(db.name) ?? null), 20, 'A stored the first head');
  const B = client(db, b);
  t.equal((await B.head())?.treeSize, 20, 'B starts from the shared head');
  await db.add(records(20, 30));
  await A.latest();
  t.equal(sizeOf(backing.heads.get(db.name) ?? null), 30, 'A advanced it to 30');
  await db.add(records(30, 40));
  let lost = 0;
  const cas = b.advanceHead.bind(b);
  b.advanceHead = async (...args) => {
    const ok = await cas(...args);
    if (!ok) lost++;
    return ok;
  };
  t.equal((await B.latest()).treeSize, 40, 'B reaches 40');
  t.equal(lost, 1, 'B lost one race (it expected 20, the state held 30)');
  t.equal(sizeOf(backing.heads.get(db.name) ?? null), 40, 'the shared head is 40');
  t.equal((await B.lookup('example.com/mod35', 'v1.0.35')).evidence.treeSize, 40);
});

t.test('racing replicas all end on the newest head, never a smaller one', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 20) });
  const backing = new MemoryBacking();
  const clients = Array.from({ length: 6 }, (_, i) =>
    client(db, new StateSumdbStore(new MemorySumdbStore(), new MemoryState(`r${i}`, backing))),
  );
  await Promise.all(clients.map((c) => c.head()));
  await db.add(records(20, 32));
  const heads = await Promise.all(clients.map((c) => c.latest()));
  t.ok(
    heads.every((h) => h.treeSize === 32),
    'every replica verified the same newest head',
  );
  t.equal(sizeOf(backing.heads.get(db.name) ?? null), 32);
});

t.test('a head another writer stored is verified before it is adopted', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 20) });
  const { backing, a } = replicas();
  const A = client(db, a);
  await A.head();
  await A.latest();
  const before = backing.heads.get(db.name);
  // A validly signed head whose hash the log does not have: inconsistent with 20.
  backing.heads.set(
    db.name,
    signNote(formatTree({ n: 30, hash: Buffer.alloc(32, 7) }), [
      parseSignerKey(db.signerKey),
    ]).toString(),
  );
  await db.add(records(20, 40));
  const code = await codeOf(A.latest());
  t.ok(code === 'SUMDB_FORK' || code === 'SUMDB_BAD_TILE', `refused (${code})`);
  t.not(sizeOf(backing.heads.get(db.name) ?? null), 40, 'nothing advanced past the bad head');
  t.ok(before, 'there was a head before');

  const other = generateKeyPair(db.name);
  backing.heads.set(
    db.name,
    signNote(formatTree({ n: 35, hash: Buffer.alloc(32, 1) }), [
      parseSignerKey(other.signer),
    ]).toString(),
  );
  t.equal(await codeOf(A.latest()), 'SUMDB_STATE_INVALID', 'a head under another key is refused');
});

const evidence = (name: string): ForkEvidence => ({
  name,
  detectedAt: new Date().toISOString(),
  olderNote: 'older note\n',
  newerNote: 'newer note\n',
  older: { treeSize: 5, rootHash: 'AAAA' },
  newer: { treeSize: 6, rootHash: 'BBBB' },
  computedOlderHash: 'CCCC',
  proof: [],
});

t.test('fork evidence recorded by another replica stops every answer', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 20) });
  const { a, b } = replicas();
  const A = client(db, a);
  await A.lookup('example.com/mod5', 'v1.0.5');
  await b.putEvidence(db.name, evidence(db.name));
  for (const [what, p] of [
    ['a cached lookup', A.lookup('example.com/mod5', 'v1.0.5')],
    ['a new lookup', A.lookup('example.com/mod6', 'v1.0.6')],
    ['latest', A.latest()],
    ['head', A.head()],
  ] as const) {
    const err = await p.catch((e: unknown) => e);
    t.ok(isModgateError(err, 'SUMDB_FORK'), `${what}: SUMDB_FORK`);
    t.match((err as Error).message, /SECURITY ERROR[\s\S]*older note/);
  }
  await b.putEvidence(db.name, { ...evidence(db.name), olderNote: 'second\n' });
  t.match(
    await a.forkEvidence(db.name),
    { olderNote: 'older note\n' },
    'the first evidence is kept',
  );
});

t.test('unreadable recorded evidence still stops the database', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-fork-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const db = await createFakeSumdb({ records: records(0, 8) });
  const store = new FsSumdbStore(dir);
  await store.putEvidence(db.name, evidence(db.name));
  await writeFile(path.join(dir, db.name, 'fork.json'), '{ not json');
  const err = await client(db, store)
    .lookup('example.com/mod1', 'v1.0.1')
    .catch((e: unknown) => e);
  t.ok(isModgateError(err, 'SUMDB_FORK'));
  t.match((err as Error).message, /unreadable/);
});

t.test('a shared state that is down is STATE_UNAVAILABLE, not a database failure', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 8) });
  const { backing, a } = replicas();
  const A = client(db, a);
  await A.lookup('example.com/mod1', 'v1.0.1');
  backing.down = true;
  t.equal(await codeOf(A.lookup('example.com/mod2', 'v1.0.2')), 'STATE_UNAVAILABLE');
  t.equal(await codeOf(A.latest()), 'STATE_UNAVAILABLE');
  backing.down = false;
  t.ok(await A.lookup('example.com/mod2', 'v1.0.2'), 'back once the engine is');
});
