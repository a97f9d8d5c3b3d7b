import t from 'tap';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isModgateError } from '../../src/errors.js';
import { generateKeyPair, parseSignerKey, signNote } from '../../src/integrity/note.js';
import { formatRecord, formatTree, parseTree } from '../../src/integrity/tlog.js';
import { SumdbClient, type SumdbTransportLike } from '../../src/integrity/sumdb/client.js';
import { MemorySumdbStore, type SumdbStore } from '../../src/integrity/sumdb/store.js';
import { FsSumdbStore } from '../../src/integrity/sumdb/fs-store.js';
import { parseGoSumdb, SUM_GOLANG_ORG_KEY } from '../../src/integrity/sumdb/gosumdb.js';
import {
  createFakeSumdb,
  httpTransport,
  startFakeSumdb,
  type FakeRecord,
  type FakeSumdbCore,
} from '../helpers/fake-sumdb.js';

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | null> {
  try {
    await (typeof p === 'function' ? p() : p);
    return null;
  } catch (e) {
    return isModgateError(e) ? e.code : `non-ModgateError: ${String(e)}`;
  }
}

const rec = (i: number): FakeRecord => ({
  path: `example.com/mod${i}`,
  version: `v1.0.${i}`,
  h1: `h1:zip${i}=`,
  modH1: `h1:mod${i}=`,
});
const records = (from: number, to: number): FakeRecord[] =>
  Array.from({ length: to - from }, (_, i) => rec(from + i));

function client(
  db: FakeSumdbCore,
  store: SumdbStore = new MemorySumdbStore(),
  extra: { tileHeight?: number; transport?: SumdbTransportLike } = {},
): SumdbClient {
  return new SumdbClient({
    name: db.name,
    verifierKey: db.verifierKey,
    transport: extra.transport ?? db.transport,
    store,
    tileHeight: extra.tileHeight ?? 2,
  });
}

const storedSize = (s: MemorySumdbStore, name: string): number =>
  parseTree(s.heads.get(name)!.toString('utf8').split('\n\n')[0] + '\n').n;

t.test('lookups are verified, cached and carry evidence', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 40) });
  const store = new MemorySumdbStore();
  const c = client(db, store);
  const res = await c.lookup('example.com/mod7', 'v1.0.7');
  t.same(res.lines, [
    'example.com/mod7 v1.0.7 h1:zip7=',
    'example.com/mod7 v1.0.7/go.mod h1:mod7=',
  ]);
  t.match(res.evidence, { treeSize: 40, recordId: 7 });
  t.equal(
    res.evidence.rootHash,
    parseTree((await db.signedHead()).toString().split('\n\n')[0] + '\n').hash.toString('base64'),
  );
  t.equal(res.evidence.signedHead, (await db.signedHead()).toString());
  const before = db.requests.length;
  t.same((await c.lookup('example.com/mod7', 'v1.0.7/go.mod')).lines, [
    'example.com/mod7 v1.0.7/go.mod h1:mod7=',
  ]);
  t.equal(db.requests.length, before, 'no new request for a verified record');
  t.equal(storedSize(store, db.name), 40);
  t.ok(store.tiles.size > 0, 'verified tiles are stored');
  t.equal(await codeOf(c.lookup('example.com/missing', 'v1.0.0')), 'SUMDB_NOT_FOUND');
  t.equal(await codeOf(c.lookup('example.com/../x', 'v1.0.0')), 'SUMDB_BAD_REQUEST');
  t.equal(await codeOf(c.lookup('example.com/x', 'v1.0.0?x')), 'SUMDB_BAD_REQUEST');
});

t.test('upper-case paths are !-escaped; concurrent lookups share one request', async (t) => {
  const db = await createFakeSumdb({
    records: [
      { path: 'github.com/BurntSushi/toml', version: 'v1.0.0', h1: 'h1:a=', modH1: 'h1:b=' },
    ],
  });
  const c = client(db);
  const all = await Promise.all(
    Array.from({ length: 5 }, () => c.lookup('github.com/BurntSushi/toml', 'v1.0.0')),
  );
  t.equal(all.length, 5);
  t.same(
    db.requests.filter((r) => r.startsWith('/lookup/')),
    ['/lookup/github.com/!burnt!sushi/toml@v1.0.0'],
  );
});

t.test('the tree grows; older consistent heads are accepted but not stored', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 10) });
  const store = new MemorySumdbStore();
  const c = client(db, store);
  await c.lookup('example.com/mod3', 'v1.0.3');
  await db.add(records(10, 30));
  await c.lookup('example.com/mod25', 'v1.0.25');
  t.equal(storedSize(store, db.name), 30);
  const old = await db.signedHead(12);
  const lagging: SumdbTransportLike = {
    get: async (p) =>
      p === '/lookup/example.com/mod5@v1.0.5'
        ? Buffer.concat([
            formatRecord(
              5,
              'example.com/mod5 v1.0.5 h1:zip5=\nexample.com/mod5 v1.0.5/go.mod h1:mod5=\n',
            ),
            old,
          ])
        : db.transport.get(p),
  };
  const c2 = client(db, store, { transport: lagging });
  const res = await c2.lookup('example.com/mod5', 'v1.0.5');
  t.equal(res.evidence.treeSize, 30, 'the record is proven in the newest tree');
  t.equal(storedSize(store, db.name), 30, 'the newer head is kept');
  const head = await c2.latest();
  t.equal(head.treeSize, 30);
});

t.test('adversarial servers', async (t) => {
  const setup = async () => {
    const db = await createFakeSumdb({ records: records(0, 20) });
    const store = new MemorySumdbStore();
    await client(db, store).lookup('example.com/mod1', 'v1.0.1');
    return { db, store };
  };

  t.test('wrong key', async (t) => {
    const { db, store } = await setup();
    await db.misbehave('wrong-key');
    t.equal(
      await codeOf(client(db, store).lookup('example.com/mod2', 'v1.0.2')),
      'NOTE_UNVERIFIED',
    );
    t.equal(await codeOf(client(db, new MemorySumdbStore()).latest()), 'NOTE_UNVERIFIED');
  });

  for (const mode of ['fork', 'fork-grow'] as const) {
    t.test(mode, async (t) => {
      const { db, store } = await setup();
      const before = store.heads.get(db.name)!.toString();
      await db.misbehave(mode);
      const err = await client(db, store)
        .lookup('example.com/mod2', 'v1.0.2')
        .catch((e: unknown) => e);
      t.ok(isModgateError(err, 'SUMDB_FORK'), 'SUMDB_FORK');
      if (!isModgateError(err, 'SUMDB_FORK')) return;
      t.match(err.message, /SECURITY ERROR/);
      const notes = [err.details.olderNote, err.details.newerNote];
      t.ok(notes.includes(before), 'details hold the trusted head');
      t.equal(notes.filter((n) => n !== before).length, 1, 'and the conflicting one');
      t.equal(store.evidence.length, 1, 'evidence saved');
      t.equal(store.heads.get(db.name)!.toString(), before, 'stored head unchanged');
      t.equal(await codeOf(client(db, store).latest()), 'SUMDB_FORK', 'latest() detects it too');
    });
  }

  t.test('inconsistent older head', async (t) => {
    const { db, store } = await setup();
    await db.misbehave('inconsistent-older-head');
    t.equal(await codeOf(client(db, store).lookup('example.com/mod2', 'v1.0.2')), 'SUMDB_FORK');
    t.match(store.evidence[0], { older: { treeSize: 19 }, newer: { treeSize: 20 } });
  });

  t.test('tampered tiles', async (t) => {
    const { db, store } = await setup();
    await db.misbehave('tampered-tile');
    t.equal(
      await codeOf(client(db, new MemorySumdbStore()).lookup('example.com/mod2', 'v1.0.2')),
      'SUMDB_BAD_TILE',
    );
    await db.add(records(20, 25));
    t.equal(
      await codeOf(client(db, store).lookup('example.com/mod22', 'v1.0.22')),
      'SUMDB_BAD_TILE',
    );
    t.equal(storedSize(store, db.name), 20, 'head not advanced');
  });

  t.test('truncated tiles', async (t) => {
    const { db } = await setup();
    await db.misbehave('truncated-tile');
    t.equal(await codeOf(client(db).lookup('example.com/mod2', 'v1.0.2')), 'SUMDB_BAD_TILE');
  });

  t.test('broken inclusion proof (record does not match the tree)', async (t) => {
    const { db, store } = await setup();
    await db.misbehave('tampered-record');
    t.equal(
      await codeOf(client(db, store).lookup('example.com/mod2', 'v1.0.2')),
      'SUMDB_BAD_PROOF',
    );
    t.equal(
      await codeOf(client(db).checkHashes('example.com/mod3', 'v1.0.3', { zipH1: 'h1:zip3=' })),
      'SUMDB_BAD_PROOF',
    );
  });

  t.test('record id outside the signed tree', async (t) => {
    const { db, store } = await setup();
    const head = await db.signedHead(20);
    const tr: SumdbTransportLike = {
      get: async (p) =>
        p.startsWith('/lookup/')
          ? Buffer.concat([formatRecord(25, 'x y h1:z=\n'), head])
          : db.transport.get(p),
    };
    t.equal(
      await codeOf(client(db, store, { transport: tr }).lookup('x', 'y')),
      'SUMDB_BAD_RESPONSE',
    );
    const garbage: SumdbTransportLike = { get: async () => Buffer.from('not a record') };
    t.equal(
      await codeOf(client(db, store, { transport: garbage }).lookup('x', 'y')),
      'SUMDB_BAD_RESPONSE',
    );
  });

  t.test('server errors', async (t) => {
    const { db, store } = await setup();
    await db.misbehave('error-500');
    t.equal(
      await codeOf(client(db, store).lookup('example.com/mod2', 'v1.0.2')),
      'SUMDB_UNAVAILABLE',
    );
    t.equal(await codeOf(client(db, store).latest()), 'SUMDB_UNAVAILABLE');
  });

  t.test('a forged head with a wrong hash at the same size is a fork', async (t) => {
    const { db, store } = await setup();
    const other = generateKeyPair(db.name);
    t.not(other.verifier, db.verifierKey);
    const forged = signNote(formatTree({ n: 20, hash: Buffer.alloc(32, 1) }), [
      parseSignerKey(db.signerKey),
    ]);
    const tr: SumdbTransportLike = {
      get: async (p) => (p === '/latest' ? forged : db.transport.get(p)),
    };
    t.equal(await codeOf(client(db, store, { transport: tr }).latest()), 'SUMDB_FORK');
  });
});

t.test('missing partial tiles are cut from full tiles', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 70) });
  const store = new MemorySumdbStore();
  store.heads.set(db.name, await db.signedHead(10));
  await db.misbehave('no-partial-tiles');
  const c = client(db, store);
  t.same((await c.lookup('example.com/mod5', 'v1.0.5')).evidence.treeSize, 70);
  for (const p of ['/tile/2/0/002.p/2', '/tile/2/1/000.p/2']) {
    t.ok(db.requests.includes(p), `asked for ${p} (pruned)`);
    t.ok(db.requests.includes(p.replace(/\.p\/\d+$/, '')), 'then for its full tile');
  }
  t.ok(
    store.tiles.has(`${db.name}/tile/2/0/002.p/2`),
    'the cut partial tile is stored after verification',
  );
});

t.test('checkHashes and verifyGoSumLine', async (t) => {
  const db = await createFakeSumdb({ records: records(0, 5) });
  const c = client(db);
  t.ok(await c.checkHashes('example.com/mod1', 'v1.0.1', { zipH1: 'h1:zip1=', modH1: 'h1:mod1=' }));
  const err = await c
    .checkHashes('example.com/mod1', 'v1.0.1', { zipH1: 'h1:evil=' })
    .catch((e: unknown) => e);
  t.ok(isModgateError(err, 'CHECKSUM_MISMATCH'));
  t.match(isModgateError(err) ? err.details : {}, { want: 'h1:zip1=', got: 'h1:evil=' });
  t.ok(await c.verifyGoSumLine('example.com/mod2 v1.0.2/go.mod h1:mod2='));
  t.equal(await codeOf(c.verifyGoSumLine('example.com/mod2 v1.0.2 h1:mod2=')), 'CHECKSUM_MISMATCH');
  t.equal(await codeOf(c.verifyGoSumLine('example.com/mod2 v1.0.2')), 'SUMDB_BAD_REQUEST');
});

t.test('over HTTP', async (t) => {
  const db = await startFakeSumdb({ records: records(0, 12) });
  t.teardown(() => db.stop());
  t.match(db.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const c = client(db, new MemorySumdbStore(), { transport: httpTransport(db.url) });
  t.same(
    (await c.lookup('example.com/mod11', 'v1.0.11')).lines[0],
    'example.com/mod11 v1.0.11 h1:zip11=',
  );
  t.ok(db.requests.includes('/lookup/example.com/mod11@v1.0.11'));
  await db.misbehave('error-500');
  t.equal(await codeOf(c.latest()), 'SUMDB_UNAVAILABLE');
});

t.test('filesystem store: atomic files, warm restart from stored tiles', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-sumdb-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const db = await createFakeSumdb({ name: 'sumdb.test.localhost/sub', records: records(0, 30) });
  const store = new FsSumdbStore(dir);
  await client(db, store, { tileHeight: 8 }).lookup('example.com/mod1', 'v1.0.1');
  t.same(await readdir(path.join(dir, 'sumdb.test.localhost', 'sub')), ['latest', 'tile']);
  const tiles = db.requests.filter((r) => r.startsWith('/tile/')).length;
  await client(db, store, { tileHeight: 8 }).lookup('example.com/mod2', 'v1.0.2');
  t.equal(
    db.requests.filter((r) => r.startsWith('/tile/')).length,
    tiles,
    'no tile fetched after restart',
  );
  await db.misbehave('fork');
  t.equal(await codeOf(client(db, store, { tileHeight: 8 }).latest()), 'SUMDB_FORK');
  const ev = await readdir(path.join(dir, 'sumdb.test.localhost', 'sub', 'evidence'));
  t.equal(ev.length, 1);
  const all = await readdir(dir, { recursive: true });
  t.same(
    all.filter((f) => String(f).includes('.tmp-')),
    [],
    'no temporary files left',
  );
  t.equal(await codeOf(() => store.getHead('../etc')), 'SUMDB_STORE_PATH');
  t.equal(await codeOf(() => store.getTile(db.name, 'tile/../../x')), 'SUMDB_STORE_PATH');
});

t.test('constructor checks', async (t) => {
  const db = await createFakeSumdb();
  const base = {
    verifierKey: db.verifierKey,
    transport: db.transport,
    store: new MemorySumdbStore(),
  };
  t.equal(await codeOf(() => new SumdbClient({ ...base, name: 'other' })), 'NOTE_KEY_INVALID');
  t.equal(
    await codeOf(() => new SumdbClient({ ...base, name: db.name, tileHeight: 0 })),
    'SUMDB_BAD_REQUEST',
  );
  t.equal(
    await codeOf(() => new SumdbClient({ ...base, name: db.name, verifierKey: 'x+y+z' })),
    'NOTE_KEY_INVALID',
  );
  const c = new SumdbClient({ ...base, name: db.name });
  t.equal(await c.head(), null, 'no head before any lookup');
  t.equal((await c.latest()).treeSize, 0, 'an empty database');
});

t.test(
  'a stored head under another key stops the client: it is never silently reset',
  async (t) => {
    const db = await createFakeSumdb({ records: records(0, 3) });
    const other = await createFakeSumdb({ name: db.name, records: records(0, 5) });
    const store = new MemorySumdbStore();
    const foreign = await other.signedHead();
    store.heads.set(db.name, foreign);
    const c = new SumdbClient({
      name: db.name,
      verifierKey: db.verifierKey,
      transport: db.transport,
      store,
    });
    await t.rejects(c.checkStoredHead(), { code: 'SUMDB_STATE_INVALID' });
    await t.rejects(c.lookup('example.com/mod1', 'v1.0.1'), { code: 'SUMDB_STATE_INVALID' });
    t.same(store.heads.get(db.name), foreign, 'the stored head is kept as evidence');
  },
);

t.test('parseGoSumdb', async (t) => {
  const k = generateKeyPair('sumdb.example.com/db');
  t.same(parseGoSumdb(''), { off: false, name: 'sum.golang.org', verifierKey: SUM_GOLANG_ORG_KEY });
  t.same(parseGoSumdb('off'), { off: true });
  t.same(parseGoSumdb('sum.golang.org'), {
    off: false,
    name: 'sum.golang.org',
    verifierKey: SUM_GOLANG_ORG_KEY,
  });
  t.same(parseGoSumdb('sum.golang.google.cn'), {
    off: false,
    name: 'sum.golang.org',
    verifierKey: SUM_GOLANG_ORG_KEY,
    url: 'https://sum.golang.google.cn',
  });
  t.same(parseGoSumdb(`${k.verifier} https://mirror.example/sumdb/`), {
    off: false,
    name: 'sumdb.example.com/db',
    verifierKey: k.verifier,
    url: 'https://mirror.example/sumdb',
  });
  const bad = [
    'a b c',
    'example.com',
    `${k.verifier} ftp://x`,
    `${k.verifier} not a url`,
    generateKeyPair('example.com/').verifier,
    generateKeyPair('example.com?x').verifier,
    generateKeyPair('user@example.com').verifier,
    `${k.verifier.slice(0, -2)}`,
  ];
  for (const s of bad) t.equal(await codeOf(() => parseGoSumdb(s)), 'GOSUMDB_INVALID', s);
});
