import { Readable } from 'node:stream';
import { ModgateError } from '../errors.js';
import { checkKey, checkPrefix, storageError } from './keys.js';
import type { BlobInfo, BlobStore, ByteRange, PutOptions } from './types.js';

/**
 * A BlobStore in memory, for unit tests: it passes the same contract suite as
 * fs and S3. `down` makes every call fail as an unreachable engine would.
 */
export class MemoryBlobStore implements BlobStore {
  readonly engine = 'memory';
  down = false;
  private readonly blobs = new Map<string, { bytes: Buffer; mtimeMs: number }>();

  private up(key: string): void {
    if (this.down)
      throw new ModgateError('STORAGE_UNAVAILABLE', `memory storage is down (${key})`, {
        engine: this.engine,
      });
  }

  async stat(key: string): Promise<BlobInfo | null> {
    checkKey(key);
    this.up(key);
    const b = this.blobs.get(key);
    return b ? { size: b.bytes.length, mtimeMs: b.mtimeMs } : null;
  }

  async getBytes(key: string): Promise<Buffer | null> {
    checkKey(key);
    this.up(key);
    const b = this.blobs.get(key);
    return b ? Buffer.from(b.bytes) : null;
  }

  async openRead(key: string, range?: ByteRange): Promise<Readable | null> {
    checkKey(key);
    this.up(key);
    const b = this.blobs.get(key);
    if (!b) return null;
    const bytes = range ? b.bytes.subarray(range.start, range.end + 1) : b.bytes;
    // Chunked as a network body would be, so that a reader can stop half way.
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 64 * 1024) chunks.push(bytes.subarray(i, i + 64 * 1024));
    return Readable.from(chunks.length ? chunks : [Buffer.alloc(0)]);
  }

  async putBytes(key: string, data: Buffer | string): Promise<void> {
    checkKey(key);
    this.up(key);
    this.blobs.set(key, { bytes: Buffer.from(data), mtimeMs: Date.now() });
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<void> {
    checkKey(key);
    this.up(key);
    const parts: Buffer[] = [];
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        opts.signal?.throwIfAborted();
        parts.push(Buffer.from(chunk));
      }
      opts.signal?.throwIfAborted();
      const size = parts.reduce((n, p) => n + p.length, 0);
      if (opts.size !== undefined && size !== opts.size)
        throw new Error(`the body has ${size} of its ${opts.size} bytes`);
    } catch (err) {
      body.destroy();
      throw storageError(this.engine, err, key);
    }
    this.up(key);
    this.blobs.set(key, { bytes: Buffer.concat(parts), mtimeMs: Date.now() });
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.up(key);
    this.blobs.delete(key);
  }

  async list(prefix: string, limit = 10_000): Promise<string[]> {
    checkPrefix(prefix);
    this.up(prefix);
    return [...this.blobs.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort()
      .slice(0, limit);
  }

  async check(): Promise<void> {
    this.up('.readyz');
  }
}
