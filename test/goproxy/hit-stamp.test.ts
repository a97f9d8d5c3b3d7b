import t from 'tap';
import type { Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import { HitReader } from '../../src/goproxy/hit-read.js';
import type { StoredEvidence } from '../../src/goproxy/evidence.js';
import { CachedBlobStore } from '../../src/storage/cached.js';
import { FsBlobStore } from '../../src/storage/fs.js';
import { MemoryBlobStore } from '../../src/storage/memory.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { testdir } from '../helpers/testdir.js';

const KEY = 'cache/example.com/m/@v/v1.0.0.zip';
const MARGIN = 50;
const DONE = Promise.resolve();

function evidenceOf(bytes: Buffer): StoredEvidence {
  return {
    kind: 'zip',
    module: 'example.com/m',
    version: 'v1.0.0',
    upstream: 'https://upstream.test',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    fetchedAt: new Date().toISOString(),
  } as StoredEvidence;
}

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}

/** Waits (bounded) until the file's change time is older than the margin: a condition, not a delay. */
async function aged(t: Test, file: string, margin: number): Promise<void> {
  const ctime = (await stat(file)).ctimeMs;
  for (let i = 0; i < 400 && Date.now() <= ctime + margin + 5; i++)
    await new Promise((r) => setTimeout(r, 10));
  t.ok(Date.now() > ctime + margin, 'the file is older than the margin');
}

async function setup(t: Test) {
  const root = testdir(t);
  const store = new FsBlobStore(root);
  const bytes = randomBytes(700_000);
  await store.putBytes(KEY, bytes);
  const file = path.join(root, KEY);
  const ev = evidenceOf(bytes);
  const reader = new HitReader(store, { entries: 16, marginMs: MARGIN });
  const mismatches: string[] = [];
  const open = () =>
    reader.open(KEY, ev, async (r) => void mismatches.push(r), undefined, undefined, DONE);
  return { store, bytes, file, ev, reader, mismatches, open };
}

/** Hashes once and remembers the stamp; checks that the second read trusted it. */
async function stamped(t: Test, s: Awaited<ReturnType<typeof setup>>): Promise<void> {
  await aged(t, s.file, MARGIN);
  t.ok((await readAll(await s.open())).equals(s.bytes), 'first read: the genuine bytes');
  t.ok((await readAll(await s.open())).equals(s.bytes), 'second read: the genuine bytes');
  t.same(s.reader.counts, { hashed: 1, stamped: 1 }, 'hashed once, then vouched for by the stamp');
}

t.test('a verified local file is hashed once, then served by its unchanged stamp', async (t) => {
  const s = await setup(t);
  await stamped(t, s);
  const range = await s.reader.open(
    KEY,
    s.ev,
    async () => undefined,
    undefined,
    { start: 10, end: 19 },
    DONE,
  );
  t.ok((await readAll(range)).equals(s.bytes.subarray(10, 20)), 'a range from the stamped file');
  t.equal(s.reader.counts.stamped, 2);
});

t.test('a file changed within the margin of its stamp is not remembered', async (t) => {
  const s = await setup(t);
  const reader = new HitReader(s.store, { entries: 16, marginMs: 3_600_000 });
  for (let i = 0; i < 3; i++) {
    const r = await reader.open(KEY, s.ev, async () => undefined, undefined, undefined, DONE);
    t.ok((await readAll(r)).equals(s.bytes));
  }
  t.same(reader.counts, { hashed: 3, stamped: 0 }, 'hashed every time');
});

const tampers: Array<[string, (file: string, bad: Buffer) => Promise<void>]> = [
  ['rewritten in place, same size', (file, bad) => writeFile(file, bad)],
  [
    'rewritten, its mtime put back',
    async (file, bad) => {
      const before = await stat(file);
      await writeFile(file, bad);
      await utimes(file, before.atime, before.mtime);
    },
  ],
  [
    'replaced by rename, same size and mtime',
    async (file, bad) => {
      const before = await stat(file);
      await writeFile(`${file}.new`, bad);
      await utimes(`${file}.new`, before.atime, before.mtime);
      await rename(`${file}.new`, file);
    },
  ],
];

for (const [how, tamper] of tampers) {
  t.test(`a stamped file ${how}: hashed again and refused`, async (t) => {
    const s = await setup(t);
    await stamped(t, s);
    const bad = Buffer.from(s.bytes);
    bad[bad.length - 100] = bad[bad.length - 100]! ^ 0xff;
    await tamper(s.file, bad);
    await t.rejects(readAll(await s.open()), { code: 'CACHE_TAMPERED' }, 'the read fails');
    t.same(s.mismatches, ['does not hash to the sha256 of its evidence']);
    t.equal(s.reader.counts.hashed, 2, 'the changed stamp made it hash again');
  });
}

t.test('a stamped file only touched: hashed again, served, remembered anew', async (t) => {
  const s = await setup(t);
  await stamped(t, s);
  const old = new Date(Date.now() - 10_000);
  await utimes(s.file, old, old);
  await aged(t, s.file, MARGIN);
  t.ok((await readAll(await s.open())).equals(s.bytes), 'the genuine bytes');
  t.equal(s.reader.counts.hashed, 2, 'hashed again after the touch');
  t.ok((await readAll(await s.open())).equals(s.bytes));
  t.equal(s.reader.counts.stamped, 2, 'the new stamp is remembered');
  t.same(s.mismatches, []);
});

t.test('a store without local files is hashed on every read', async (t) => {
  const store = new MemoryBlobStore();
  const bytes = randomBytes(100_000);
  await store.putBytes(KEY, bytes);
  const reader = new HitReader(store, { entries: 16, marginMs: 0 });
  for (let i = 0; i < 3; i++) {
    const r = await reader.open(
      KEY,
      evidenceOf(bytes),
      async () => undefined,
      undefined,
      undefined,
      DONE,
    );
    t.ok((await readAll(r)).equals(bytes));
  }
  t.same(reader.counts, { hashed: 3, stamped: 0 });
});

t.test('the disk cache in front of a remote store: stamps only its local copies', async (t) => {
  const inner = new MemoryBlobStore();
  const bytes = randomBytes(100_000);
  await inner.putBytes(KEY, bytes);
  const dir = testdir(t);
  const store = new CachedBlobStore(inner, { dir, maxBytes: 1 << 20 });
  await store.init();
  t.teardown(() => store.close());
  t.equal(await store.openLocal(KEY), null, 'a blob only in the remote store is not local');
  const reader = new HitReader(store, { entries: 16, marginMs: MARGIN });
  const ev = evidenceOf(bytes);
  const read = async () =>
    readAll(await reader.open(KEY, ev, async () => undefined, undefined, undefined, DONE));
  t.ok((await read()).equals(bytes), 'read through from the remote store, hashed');
  await store.settled();
  t.same(reader.counts, { hashed: 1, stamped: 0 });
  await aged(t, path.join(dir, KEY), MARGIN);
  t.ok((await read()).equals(bytes), 'the local copy, hashed');
  t.ok((await read()).equals(bytes), 'the local copy, by its stamp');
  t.same(reader.counts, { hashed: 2, stamped: 1 });
});

t.test(
  'through the gateway: a stamped zip rewritten with its mtime put back is refused and refetched',
  async (t) => {
    const big = await makeModule('example.com/big', 'v1.0.0', {
      'big.txt': randomBytes(700_000).toString('base64'),
    });
    const up = await startFakeUpstream([big]);
    const dir = testdir(t);
    const audit = recordingAudit();
    const gw = await startTestGateway(
      dir,
      { upstream: up.url, cache: { memoryMaxItemBytes: 0 } },
      { audit },
    );
    t.teardown(async () => {
      await gw.close();
      await up.close();
    });
    const ZIP = '/example.com/big/@v/v1.0.0.zip';
    const file = path.join(dir, 'store', 'cache', 'example.com', 'big', '@v', 'v1.0.0.zip');
    const get = async () => {
      const res = await request(gw.url + ZIP);
      t.equal(res.statusCode, 200);
      t.ok(Buffer.from(await res.body.arrayBuffer()).equals(big.zip), 'the genuine bytes');
    };
    await get();
    // Past the default margin, so that the next hits remember and then trust the stamp.
    await aged(t, file, 2_000);
    await get();
    await get();
    const bytes = await readFile(file);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    const before = await stat(file);
    await writeFile(file, bytes);
    await utimes(file, before.atime, before.mtime);

    const res = await request(gw.url + ZIP);
    t.equal(res.statusCode, 200, 'headers went out before the mismatch was known');
    await t.rejects(
      res.body.arrayBuffer(),
      'the client sees an aborted body, not the changed bytes',
    );
    t.match(
      audit.events.find((e) => e.event === 'CACHE_TAMPERED')?.details,
      {
        module: 'example.com/big',
        kind: 'zip',
        reason: 'does not hash to the sha256 of its evidence',
      },
      'the security event is recorded',
    );
    t.equal(
      audit.decisions.filter((d) => d.kind === 'zip').length,
      4,
      'every answer has its decision',
    );
    const q = await readdir(path.join(dir, 'store', 'quarantine'));
    t.equal(q.length, 1, 'the changed bytes are quarantined');
    t.equal(up.count(ZIP), 1, 'nothing fetched meanwhile');
    await get();
    t.equal(up.count(ZIP), 2, 'the next hit fetched it again');
  },
);
