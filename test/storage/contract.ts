import type { Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import type { BlobStore } from '../../src/storage/types.js';

// tap starts every test with --expose-gc (package.json "node-arg"): setting the
// flag at run time instead can crash V8 (SIGSEGV seen under coverage).
const exposed = (globalThis as { gc?: () => void }).gc;
if (!exposed) throw new Error('run with node --expose-gc (tap does, from package.json)');
const gc: () => void = exposed;
const MiB = 1024 * 1024;

export interface ContractOptions {
  /** The implementation streams (fs, S3): a 64 MiB blob never sits in memory. */
  streams: boolean;
  /** Bytes per writer in the concurrent-writers case (large enough for multipart on S3). */
  writerBytes?: number;
  /** The implementation moves local files in (putFile); the others stream them through put(). */
  movesFiles?: boolean;
}

/** A body of `size` random bytes made on demand, reporting memory in use every 8 MiB. */
export function generated(size: number, onSample?: (bytes: number) => void) {
  const hash = createHash('sha256');
  let made = 0;
  const body = Readable.from(
    (function* () {
      while (made < size) {
        const chunk = randomBytes(Math.min(64 * 1024, size - made));
        hash.update(chunk);
        made += chunk.length;
        if (onSample && made % (8 * MiB) === 0) onSample(liveBytes());
        yield chunk;
      }
    })(),
  );
  return { body, digest: () => hash.digest('hex') };
}

/** Heap and buffer memory that is still reachable (after a full collection). */
export function liveBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A body that yields `good` bytes and then fails, as a dropped upstream connection would. */
export function failingBody(good: number): Readable {
  return Readable.from(
    (async function* () {
      yield randomBytes(good);
      throw new Error('connection reset mid-body');
    })(),
  );
}

/** The contract every BlobStore implementation passes: fs, S3, cached S3, memory. */
export function blobStoreContract(
  t: Test,
  make: () => Promise<BlobStore>,
  opts: ContractOptions,
): void {
  t.test('absent keys read as null; deleting one is no error', async (t) => {
    const s = await make();
    t.equal(await s.stat('a/b.zip'), null);
    t.equal(await s.getBytes('a/b.zip'), null);
    t.equal(await s.openRead('a/b.zip'), null);
    await t.resolves(s.delete('a/b.zip'));
  });

  t.test('putBytes then read back, whole and by range', async (t) => {
    const s = await make();
    await s.putBytes('m/@v/v1.0.0.mod', 'module m\n');
    t.equal((await s.getBytes('m/@v/v1.0.0.mod'))?.toString(), 'module m\n');
    t.equal((await s.stat('m/@v/v1.0.0.mod'))?.size, 9);
    t.equal(await text((await s.openRead('m/@v/v1.0.0.mod', { start: 2, end: 5 }))!), 'dule');
    t.equal(await text((await s.openRead('m/@v/v1.0.0.mod'))!), 'module m\n');
    t.equal(await text((await s.openRead('m/@v/v1.0.0.mod', { start: 8, end: 8 }))!), '\n');
  });

  t.test('put streams a body in; replacing is whole; delete removes', async (t) => {
    const s = await make();
    await s.put('k/blob', Readable.from([Buffer.from('fir'), Buffer.from('st')]));
    t.equal((await s.getBytes('k/blob'))?.toString(), 'first');
    await s.putBytes('k/blob', 'second');
    t.equal((await s.getBytes('k/blob'))?.toString(), 'second');
    await s.put('k/blob', Readable.from([Buffer.from('third')]), { size: 5 });
    t.equal((await s.getBytes('k/blob'))?.toString(), 'third');
    await s.delete('k/blob');
    t.equal(await s.stat('k/blob'), null);
    t.equal(await s.getBytes('k/blob'), null);
  });

  t.test('list names the keys under a prefix, sorted, and nothing else', async (t) => {
    const s = await make();
    for (const k of ['l/a/2', 'l/a/1', 'l/b/1', 'la/x']) await s.putBytes(k, k);
    t.same(await s.list('l/a/'), ['l/a/1', 'l/a/2']);
    t.same(await s.list('l/'), ['l/a/1', 'l/a/2', 'l/b/1']);
    t.same(await s.list('l/', 2), ['l/a/1', 'l/a/2'], 'limit');
    t.same(await s.list('none/'), []);
  });

  t.test('a body that fails mid-upload leaves nothing visible', async (t) => {
    const s = await make();
    const size = opts.streams ? 7 * MiB : 64 * 1024;
    await t.rejects(s.put('f/new.zip', failingBody(size)), { code: 'STORAGE_UNAVAILABLE' });
    t.equal(await s.stat('f/new.zip'), null, 'no blob');
    t.same(await s.list('f/'), [], 'no temp object either');
    await s.putBytes('f/old.zip', 'old');
    await t.rejects(s.put('f/old.zip', failingBody(size)), { code: 'STORAGE_UNAVAILABLE' });
    t.equal((await s.getBytes('f/old.zip'))?.toString(), 'old', 'the previous blob stays whole');
    t.same(await s.list('f/'), ['f/old.zip']);
  });

  t.test('an aborted upload leaves nothing visible', async (t) => {
    const s = await make();
    const ac = new AbortController();
    let sent = 0;
    const body = Readable.from(
      (function* () {
        // Aborts once some bytes went in; the rest never comes.
        for (let i = 0; i < 1024; i++) {
          if (sent >= (opts.streams ? 6 * MiB : 64 * 1024)) ac.abort(new Error('client gone'));
          sent += 64 * 1024;
          yield randomBytes(64 * 1024);
        }
      })(),
    );
    await t.rejects(s.put('ab/x.zip', body, { signal: ac.signal }));
    t.ok(ac.signal.aborted);
    t.equal(await s.stat('ab/x.zip'), null);
    t.same(await s.list('ab/'), []);
    const pre = new AbortController();
    pre.abort(new Error('already gone'));
    await t.rejects(s.put('ab/y.zip', Readable.from([Buffer.from('y')]), { signal: pre.signal }));
    t.equal(await s.stat('ab/y.zip'), null, 'an already aborted put writes nothing');
  });

  t.test('a body shorter or longer than its stated size is not stored', async (t) => {
    const s = await make();
    await t.rejects(s.put('sz/a', Readable.from([Buffer.from('abc')]), { size: 4 }));
    await t.rejects(s.put('sz/b', Readable.from([Buffer.from('abcde')]), { size: 4 }));
    t.same(await s.list('sz/'), []);
  });

  if (opts.movesFiles)
    t.test('putFile moves a local file in whole, or stores nothing', async (t) => {
      const s = await make();
      if (!s.putFile) throw new Error(`${s.engine} has no putFile`);
      const dir = await mkdtemp(path.join(tmpdir(), 'modgate-putfile-'));
      t.teardown(() => rm(dir, { recursive: true, force: true }));
      const file = path.join(dir, 'a.zip');
      await writeFile(file, 'zipbytes');
      await s.putFile('pf/a.zip', file, { size: 8 });
      t.equal((await s.getBytes('pf/a.zip'))?.toString(), 'zipbytes');
      t.equal(await exists(file), false, 'the file is consumed');
      await writeFile(file, 'short');
      await t.rejects(s.putFile('pf/b.zip', file, { size: 8 }), { code: 'STORAGE_UNAVAILABLE' });
      t.equal(await s.stat('pf/b.zip'), null, 'a file of the wrong size is not stored');
      t.equal(await exists(file), false, 'and is removed');
      await writeFile(file, 'newbytes');
      const pre = new AbortController();
      pre.abort(new Error('gone'));
      await t.rejects(s.putFile('pf/a.zip', file, { size: 8, signal: pre.signal }));
      t.equal(
        (await s.getBytes('pf/a.zip'))?.toString(),
        'zipbytes',
        'an aborted move replaces nothing',
      );
      t.same(await s.list('pf/'), ['pf/a.zip']);
    });

  t.test('concurrent writers of one key: readers see one whole version', async (t) => {
    const s = await make();
    const size = opts.writerBytes ?? 256 * 1024;
    const versions = Array.from({ length: 4 }, () => randomBytes(size));
    const digests = new Set(versions.map((v) => createHash('sha256').update(v).digest('hex')));
    const reads: Array<Promise<Buffer | null>> = [];
    await Promise.all(
      versions.map(async (v, i) => {
        reads.push(s.getBytes('cw/blob'));
        await s.put('cw/blob', Readable.from([v.subarray(0, size / 2), v.subarray(size / 2)]), {
          ...(i % 2 ? { size } : {}),
        });
        reads.push(s.getBytes('cw/blob'));
      }),
    );
    for (const r of await Promise.all(reads)) {
      if (r === null) continue;
      t.ok(digests.has(createHash('sha256').update(r).digest('hex')), 'a whole version');
    }
    const last = await s.getBytes('cw/blob');
    t.ok(last && digests.has(createHash('sha256').update(last).digest('hex')), 'one winner');
    t.equal((await s.stat('cw/blob'))?.size, size);
    t.same(await s.list('cw/'), ['cw/blob'], 'no temp objects left');
  });

  t.test('a large stream goes in and out in bounded memory', async (t) => {
    const s = await make();
    const size = opts.streams ? 64 * MiB : 4 * MiB;
    const base = liveBytes();
    let peak = base;
    const sample = (b: number) => (peak = Math.max(peak, b));
    const g = generated(size, sample);
    await s.put('big/m.zip', g.body, { size });
    const want = g.digest();
    t.equal((await s.stat('big/m.zip'))?.size, size);
    for (const round of ['first', 'second']) {
      const hash = createHash('sha256');
      let seen = 0;
      for await (const chunk of (await s.openRead('big/m.zip'))! as AsyncIterable<Buffer>) {
        hash.update(chunk);
        const before = seen;
        seen += chunk.length;
        if (Math.floor(before / (8 * MiB)) !== Math.floor(seen / (8 * MiB))) sample(liveBytes());
      }
      t.equal(seen, size, `${round} read: every byte`);
      t.equal(hash.digest('hex'), want, `${round} read: the same bytes`);
    }
    const mid = size / 2;
    const part = await buffer((await s.openRead('big/m.zip', { start: mid, end: mid + 99 }))!);
    t.equal(part.length, 100, 'a range of a large blob');
    if (opts.streams) {
      t.ok(peak - base < 48 * MiB, `peak memory growth ${Math.round((peak - base) / MiB)} MiB`);
    }
    await s.delete('big/m.zip');
  });

  t.test('unsafe keys are refused with a code, on every operation', async (t) => {
    const s = await make();
    for (const key of ['../etc/passwd', 'a/../../b', '/abs', 'a//b', 'sp ace', 'a/./b', 'a/']) {
      await t.rejects(s.putBytes(key, 'x'), { code: 'STORAGE_BAD_KEY' }, key);
      await t.rejects(s.put(key, Readable.from(['x'])), { code: 'STORAGE_BAD_KEY' }, key);
      await t.rejects(s.stat(key), { code: 'STORAGE_BAD_KEY' }, key);
      await t.rejects(s.getBytes(key), { code: 'STORAGE_BAD_KEY' }, key);
      await t.rejects(s.openRead(key), { code: 'STORAGE_BAD_KEY' }, key);
      await t.rejects(s.delete(key), { code: 'STORAGE_BAD_KEY' }, key);
    }
    await t.rejects(s.list('../'), { code: 'STORAGE_BAD_KEY' });
  });

  t.test('check succeeds on a writable store', async (t) => {
    const s = await make();
    await t.resolves(s.check());
  });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
