import {
  copyFile,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ModgateError } from '../errors.js';
import type { BlobInfo, BlobStore } from './types.js';
import { syncDir } from './atomic.js';

const SAFE_KEY = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._~!+@,=/-]+$/;

/** The embedded default store: files under a root folder, written temp + fsync + rename. */
export class FsBlobStore implements BlobStore {
  readonly root: string;
  private readonly tmp: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.tmp = path.join(this.root, '.tmp');
  }

  private file(key: string): string {
    if (!SAFE_KEY.test(key) || key.startsWith('/') || key.includes('//')) {
      throw new ModgateError('STORAGE_BAD_KEY', `unsafe storage key: ${JSON.stringify(key)}`);
    }
    return path.join(this.root, key);
  }

  async stat(key: string): Promise<BlobInfo | null> {
    const file = this.file(key);
    try {
      const st = await stat(file);
      return st.isFile() ? { size: st.size, mtimeMs: st.mtimeMs, localPath: file } : null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError(err, key);
    }
  }

  async getBytes(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.file(key));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError(err, key);
    }
  }

  async createReadStream(
    key: string,
    range?: { start: number; end: number },
  ): Promise<Readable | null> {
    const file = this.file(key);
    try {
      const fh = await open(file, 'r');
      return fh.createReadStream({ ...(range ?? {}), highWaterMark: 256 * 1024 });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError(err, key);
    }
  }

  async putBytes(key: string, data: Buffer | string): Promise<void> {
    const tmp = await this.tempFile();
    try {
      const fh = await open(tmp, 'w', 0o644);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.putFile(key, tmp);
    } catch (err) {
      await rm(tmp, { force: true });
      throw storageError(err, key);
    }
  }

  async putFile(key: string, localPath: string): Promise<void> {
    const dest = this.file(key);
    try {
      await mkdir(path.dirname(dest), { recursive: true });
      try {
        await rename(localPath, dest);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        const tmp = await this.tempFile();
        await copyFile(localPath, tmp);
        await fsyncFile(tmp);
        await rename(tmp, dest);
        await unlink(localPath);
      }
      await syncDir(path.dirname(dest));
    } catch (err) {
      throw storageError(err, key);
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  async tempDir(): Promise<string> {
    try {
      await mkdir(this.tmp, { recursive: true });
    } catch (err) {
      throw storageError(err, '.tmp');
    }
    return this.tmp;
  }

  /**
   * Removes what a crash left in the temp folder (spooled downloads, half
   * written blobs); call at start, before the store is used. Returns the count.
   */
  async clearTemp(): Promise<number> {
    const entries = await readdir(this.tmp).catch(() => [] as string[]);
    await rm(this.tmp, { recursive: true, force: true });
    return entries.length;
  }

  async check(): Promise<void> {
    await this.putBytes('.readyz', String(Date.now()));
  }

  private async tempFile(): Promise<string> {
    return path.join(await this.tempDir(), `${Date.now()}-${randomBytes(6).toString('hex')}.tmp`);
  }
}

export async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function storageError(err: unknown, key: string): ModgateError {
  if (err instanceof ModgateError) return err;
  const e = err as NodeJS.ErrnoException;
  return new ModgateError(
    'STORAGE_UNAVAILABLE',
    `storage error for ${key}: ${e.code ?? e.message}`,
    {},
    { cause: err },
  );
}
