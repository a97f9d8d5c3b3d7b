import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobInfo, BlobStore, ByteRange, LocalBlob, PutOptions } from './types.js';
import { openLocalFile } from './local-file.js';
import { syncDir } from './atomic.js';
import { checkKey, checkPrefix, storageError } from './keys.js';
import { exactly, short } from './sized.js';

const TMP = '.tmp';

/**
 * The embedded default store: files under a root folder. Every write goes to
 * a temp file in <root>/.tmp, is fsynced, then renamed into place, so that a
 * reader sees the old file, the new file, or nothing, never a part.
 */
export class FsBlobStore implements BlobStore {
  readonly engine = 'fs';
  readonly root: string;
  private readonly tmp: string;

  /** `tempName`: a subfolder of <root>/.tmp of this process's own (several processes share a root). */
  constructor(root: string, tempName?: string) {
    this.root = path.resolve(root);
    this.tmp = path.join(this.root, TMP, ...(tempName ? [tempName] : []));
  }

  private file(key: string): string {
    return path.join(this.root, checkKey(key));
  }

  async stat(key: string): Promise<BlobInfo | null> {
    const file = this.file(key);
    try {
      const st = await stat(file);
      return st.isFile() ? { size: st.size, mtimeMs: st.mtimeMs } : null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError(this.engine, err, key);
    }
  }

  async getBytes(key: string): Promise<Buffer | null> {
    const file = this.file(key);
    try {
      return await readFile(file);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError(this.engine, err, key);
    }
  }

  async openRead(key: string, range?: ByteRange): Promise<Readable | null> {
    const file = this.file(key);
    try {
      const fh = await open(file, 'r');
      return fh.createReadStream({ ...(range ?? {}), highWaterMark: 256 * 1024 });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError(this.engine, err, key);
    }
  }

  async openLocal(key: string): Promise<LocalBlob | null> {
    const file = this.file(key);
    try {
      return await openLocalFile(file);
    } catch (err) {
      throw storageError(this.engine, err, key);
    }
  }

  async putBytes(key: string, data: Buffer | string): Promise<void> {
    const dest = this.file(key);
    const tmp = await this.tempFile(key);
    try {
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.publish(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw storageError(this.engine, err, key);
    }
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<void> {
    const dest = this.file(key);
    const tmp = await this.tempFile(key);
    try {
      const sink = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
      const o = opts.signal ? { signal: opts.signal } : {};
      await (opts.size === undefined
        ? pipeline(body, sink, o)
        : pipeline(body, exactly(opts.size, key), sink, o));
      const fh = await open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.publish(tmp, dest);
    } catch (err) {
      body.destroy();
      await rm(tmp, { force: true });
      throw storageError(this.engine, err, key);
    }
  }

  /**
   * Moves the caller's local file into the store: fsynced, then renamed into
   * place when it is on the store's file system, else copied through put().
   * The file is consumed either way.
   */
  async putFile(key: string, file: string, opts: PutOptions = {}): Promise<void> {
    const dest = this.file(key);
    try {
      const fh = await open(file, 'r+');
      try {
        const { size } = await fh.stat();
        if (opts.size !== undefined && size !== opts.size) throw short(key, size, opts.size);
        await fh.sync();
      } finally {
        await fh.close();
      }
      opts.signal?.throwIfAborted();
      await this.publish(file, dest);
    } catch (err) {
      if ((err as { code?: string }).code === 'EXDEV') {
        const body = createReadStream(file);
        return this.put(key, body, opts).finally(() => {
          body.destroy();
          return rm(file, { force: true });
        });
      }
      await rm(file, { force: true });
      throw storageError(this.engine, err, key);
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    try {
      await rm(file, { force: true });
    } catch (err) {
      throw storageError(this.engine, err, key);
    }
  }

  async list(prefix: string, limit = 10_000): Promise<string[]> {
    checkPrefix(prefix);
    const out: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
        if (out.length >= limit) return;
        const name = rel ? `${rel}/${e.name}` : e.name;
        if (name === TMP) continue;
        if (e.isDirectory()) {
          if (prefix.startsWith(`${name}/`) || name.startsWith(prefix) || prefix === '')
            await walk(path.join(dir, e.name), name);
        } else if (e.isFile() && name.startsWith(prefix)) out.push(name);
      }
    };
    await walk(this.root, '');
    return out.sort();
  }

  /**
   * Removes what a crash left in the temp folder (half written blobs); call
   * at start, before the store is used. Returns the count.
   */
  async clearTemp(): Promise<number> {
    const entries = await readdir(this.tmp).catch(() => [] as string[]);
    await rm(this.tmp, { recursive: true, force: true });
    return entries.length;
  }

  async check(): Promise<void> {
    await this.putBytes('.readyz', String(Date.now()));
  }

  private async publish(tmp: string, dest: string): Promise<void> {
    await mkdir(path.dirname(dest), { recursive: true });
    await rename(tmp, dest);
    await syncDir(path.dirname(dest));
  }

  private async tempFile(key: string): Promise<string> {
    try {
      await mkdir(this.tmp, { recursive: true });
    } catch (err) {
      throw storageError(this.engine, err, key);
    }
    return path.join(this.tmp, `${Date.now()}-${randomBytes(6).toString('hex')}.tmp`);
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
