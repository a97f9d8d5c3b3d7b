/**
 * A read-through disk cache in front of another BlobStore (S3): the same
 * port, wrapping it (the decorator style of Athens). Blobs under the
 * cacheable prefixes (immutable artifacts and their evidence) are kept in a
 * local folder bounded in bytes, with least-recently-used eviction, so that a
 * hot hit pays no round trip to the remote store. Local files are written
 * temp + fsync + rename; a local copy is trusted no more than the remote one:
 * the gateway checks every hit against its sealed evidence (re-hashing it, or
 * a local file's stamp once it was hashed: docs/security-model.md).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { syncDir } from './atomic.js';
import { checkKey } from './keys.js';
import type { BlobInfo, BlobStore, ByteRange, LocalBlob, PutOptions } from './types.js';
import { openLocalFile } from './local-file.js';

export interface DiskCacheOptions {
  dir: string;
  maxBytes: number;
  /** Which keys are immutable enough to cache; default: under "cache/". */
  cacheable?: (key: string) => boolean;
}

const TMP = '.tmp';

export class CachedBlobStore implements BlobStore {
  readonly engine: string;
  private readonly index = new Map<string, BlobInfo>();
  private used = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly cacheable: (key: string) => boolean;
  private readonly tmp: string;

  constructor(
    readonly inner: BlobStore,
    private readonly o: DiskCacheOptions,
  ) {
    this.engine = inner.engine;
    this.cacheable = o.cacheable ?? ((k) => k.startsWith('cache/'));
    this.tmp = path.join(o.dir, TMP);
  }

  /** Bytes held locally (for metrics and tests). */
  get bytes(): number {
    return this.used;
  }

  /**
   * Rebuilds the index from the folder (oldest first, by mtime), removes temp
   * files a crash left, and evicts down to the budget. Call once at start.
   */
  async init(): Promise<void> {
    await rm(this.tmp, { recursive: true, force: true });
    const found: Array<{ key: string; info: BlobInfo }> = [];
    const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory() && depth < 32 && key !== TMP)
          await walk(path.join(dir, e.name), key, depth + 1);
        else if (e.isFile()) {
          const st = await stat(path.join(dir, e.name));
          found.push({ key, info: { size: st.size, mtimeMs: st.mtimeMs } });
        }
      }
    };
    await walk(this.o.dir, '', 0);
    found.sort((a, b) => a.info.mtimeMs - b.info.mtimeMs);
    for (const f of found) this.remember(f.key, f.info);
  }

  private local(key: string): string {
    return path.join(this.o.dir, checkKey(key));
  }

  private touch(key: string): BlobInfo | undefined {
    const info = this.index.get(key);
    if (info) {
      this.index.delete(key);
      this.index.set(key, info);
    }
    return info;
  }

  private remember(key: string, info: BlobInfo): void {
    this.forget(key, false);
    this.index.set(key, info);
    this.used += info.size;
    for (const [k] of this.index) {
      if (this.used <= this.o.maxBytes) break;
      this.forget(k, true);
    }
  }

  private forget(key: string, unlink: boolean): void {
    const info = this.index.get(key);
    if (info) {
      this.index.delete(key);
      this.used -= info.size;
    }
    // A reader that has the file open keeps reading it after the unlink.
    if (unlink) this.track(rm(this.local(key), { force: true }));
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch(() => undefined).finally(() => this.pending.delete(q));
    this.pending.add(q);
  }

  async stat(key: string): Promise<BlobInfo | null> {
    checkKey(key);
    const hit = this.cacheable(key) ? this.touch(key) : undefined;
    return hit ? { ...hit } : this.inner.stat(key);
  }

  async getBytes(key: string): Promise<Buffer | null> {
    if (this.cacheable(key) && this.touch(key)) {
      const local = await readFile(this.local(key)).catch(() => null);
      if (local) return local;
      this.forget(key, false);
    }
    const bytes = await this.inner.getBytes(key);
    if (bytes && this.cacheable(key) && bytes.length <= this.o.maxBytes)
      await this.keep(key, bytes).catch(() => undefined);
    return bytes;
  }

  async openRead(key: string, range?: ByteRange): Promise<Readable | null> {
    if (this.cacheable(key) && this.touch(key)) {
      const fh = await open(this.local(key), 'r').catch(() => null);
      if (fh) return fh.createReadStream({ ...(range ?? {}), highWaterMark: 256 * 1024 });
      this.forget(key, false);
    }
    const source = await this.inner.openRead(key, range);
    if (!source || range || !this.cacheable(key)) return source;
    return this.tee(key, source);
  }

  /** The local copy, when there is one; a blob only in the remote store is not local. */
  async openLocal(key: string): Promise<LocalBlob | null> {
    if (!this.cacheable(key) || !this.touch(key)) return null;
    const local = await openLocalFile(this.local(key)).catch(() => null);
    if (!local) this.forget(key, false);
    return local;
  }

  async putBytes(key: string, data: Buffer | string): Promise<void> {
    this.drop(key);
    await this.inner.putBytes(key, data);
  }

  async put(key: string, body: Readable, opts?: PutOptions): Promise<void> {
    this.drop(key);
    await this.inner.put(key, body, opts);
  }

  async delete(key: string): Promise<void> {
    this.drop(key);
    await this.inner.delete(key);
  }

  list(prefix: string, limit?: number): Promise<string[]> {
    return this.inner.list(prefix, limit);
  }

  check(): Promise<void> {
    return this.inner.check();
  }

  /** Settles once every local write and eviction started so far is done. */
  async settled(): Promise<void> {
    // Bounded: work finishing may start an eviction, never an endless chain.
    for (let i = 0; i < 100 && this.pending.size > 0; i++) await Promise.all([...this.pending]);
  }

  /** Waits for local writes and evictions, then closes the inner store. */
  async close(): Promise<void> {
    await this.settled();
    await this.inner.close?.();
  }

  private drop(key: string): void {
    checkKey(key);
    if (this.cacheable(key)) this.forget(key, true);
  }

  private async keep(key: string, bytes: Buffer): Promise<void> {
    const tmp = await this.tempFile();
    try {
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.publish(key, tmp, bytes.length);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  private async publish(key: string, tmp: string, size: number): Promise<void> {
    const dest = this.local(key);
    await mkdir(path.dirname(dest), { recursive: true });
    await rename(tmp, dest);
    await syncDir(path.dirname(dest));
    this.remember(key, { size, mtimeMs: Date.now() });
  }

  private async tempFile(): Promise<string> {
    await mkdir(this.tmp, { recursive: true });
    return path.join(this.tmp, `${randomBytes(8).toString('hex')}.tmp`);
  }

  /**
   * Passes a remote stream through to the caller while writing it to a local
   * temp file; the copy is published only when the whole stream went by. A
   * blob over the budget, a local write error or an early end keeps nothing.
   */
  private async tee(key: string, source: Readable): Promise<Readable> {
    const tmp = await this.tempFile().catch(() => null);
    let file: WriteStream | null = tmp ? createWriteStream(tmp, { flags: 'wx' }) : null;
    let size = 0;
    const give = () => {
      const f = file;
      file = null;
      if (!f || !tmp) return;
      // The file may still be opening: remove it once its handle is closed.
      const closed = f.closed
        ? Promise.resolve()
        : new Promise<void>((r) => f.once('close', () => r()));
      f.destroy();
      this.track(closed.then(() => rm(tmp, { force: true })));
    };
    file?.on('error', give);
    const out = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        size += chunk.length;
        if (file && size > this.o.maxBytes) give();
        const f = file;
        if (!f || f.write(chunk)) return cb(null, chunk);
        // Destroying the file (give) emits close instead of drain.
        const go = () => {
          f.off('drain', go);
          f.off('close', go);
          cb(null, chunk);
        };
        f.once('drain', go);
        f.once('close', go);
      },
      flush: (cb) => {
        const f = file;
        if (f && tmp) {
          file = null;
          this.track(this.commit(key, f, tmp, size));
        }
        cb();
      },
      // Also runs when a reader stops early: no partial copy, and the remote connection is released.
      destroy: (err, cb) => {
        if (file) give();
        source.destroy();
        cb(err);
      },
    });
    source.on('error', (err) => out.destroy(err));
    return source.pipe(out);
  }

  private async commit(key: string, f: WriteStream, tmp: string, size: number): Promise<void> {
    try {
      await new Promise<void>((resolve, reject) => {
        f.once('error', reject);
        f.end(() => resolve());
      });
      const fh = await open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.publish(key, tmp, size);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
