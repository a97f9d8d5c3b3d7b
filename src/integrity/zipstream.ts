import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32, createInflateRaw, inflateRawSync } from 'node:zlib';

/** One entry as seen while the zip streamed in: where it was, what it held, and its digest. */
export interface StreamedEntry {
  offset: number;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  /** The content's sha256, as 32 latin1 characters (a string costs far less than a Buffer). */
  sha256: string;
}

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const DESCRIPTOR = 0x08074b50;
const MAX_TOTAL = 500 * 1024 * 1024;
/** Entries a verification accepts (MAX_ENTRIES in zip.ts); past that the list is dropped. */
const MAX_STREAMED = 100_000;
/**
 * A deflated entry whose bytes have all arrived within this many buffered
 * bytes is inflated in one synchronous call; a larger one streams through an
 * inflater. Small entries are most of a module's files, and an inflater
 * stream per entry (a thread-pool round trip and an output buffer each) cost
 * more than inflating them.
 */
const SYNC_INPUT = 256 << 10;
/** Output one synchronous call may produce; more streams instead (where absorb() bounds it). */
const SYNC_OUTPUT = 4 << 20;
/** The streaming inflater's output chunk. */
const STREAM_CHUNK = 64 << 10;

/**
 * A pass-through stream that inflates and hashes each entry of a zip from its
 * local header while the bytes arrive, so that verification costs almost
 * nothing after the last byte. It is only an accelerator and decides nothing:
 * verifyModuleZip checks every layout and module rule on the finished file
 * either way, and takes these digests in place of inflating again only when
 * they match the central directory entry for entry (offset, method,
 * sizes, CRC-32), so both paths accept exactly the same zips. Anything
 * unusual (stored entries of unknown size, unknown records, an entry
 * inflating past the size its local header declares, more than 500 MiB of
 * content) stops it, and `entries()` then returns null. Its memory is
 * bounded: content is hashed and dropped, never kept.
 */
export class ZipStreamDigester extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0; // stream offset of buf[0]
  private state: 'header' | 'data' | 'descriptor' | 'done' | 'failed' = 'header';
  private readonly out: StreamedEntry[] = [];
  private cur:
    | {
        e: Omit<StreamedEntry, 'sha256'>;
        hash: ReturnType<typeof createHash>;
        crc: number;
        n: number;
        /** The size the local header declares, when it is not left to a data descriptor. */
        limit: number;
      }
    | undefined;
  private total = 0;

  /** `_keep` named the root go.mod, once kept whole; content is no longer kept. */
  constructor(_keep?: Buffer) {
    super();
  }

  entries(): StreamedEntry[] | null {
    return this.state === 'done' ? this.out : null;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.state === 'done' || this.state === 'failed') return cb(null, chunk);
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.step()
      .catch(() => void (this.state = 'failed'))
      .finally(() => cb(null, chunk));
  }

  private consume(n: number): Buffer {
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.pos += n;
    return b;
  }

  private async step(): Promise<void> {
    for (;;) {
      if (this.state === 'header') {
        if (this.buf.length < 4) return;
        const sig = this.buf.readUInt32LE(0);
        if (sig === CENTRAL) return void (this.state = 'done');
        if (sig !== LOCAL) return void (this.state = 'failed');
        if (this.buf.length < 30) return;
        const nameLen = this.buf.readUInt16LE(26);
        const extraLen = this.buf.readUInt16LE(28);
        if (this.buf.length < 30 + nameLen + extraLen) return;
        const offset = this.pos;
        const flags = this.buf.readUInt16LE(6);
        const method = this.buf.readUInt16LE(8);
        const csize = this.buf.readUInt32LE(18);
        const usize = this.buf.readUInt32LE(22);
        this.consume(30 + nameLen + extraLen);
        if (this.out.length >= MAX_STREAMED) return void (this.state = 'failed');
        if ((method !== 0 && method !== 8) || (method === 0 && flags & 8) || csize === 0xffffffff)
          return void (this.state = 'failed');
        this.cur = {
          e: {
            offset,
            method,
            compressedSize: method === 0 ? csize : 0,
            uncompressedSize: 0,
            crc32: 0,
          },
          hash: createHash('sha256'),
          crc: 0,
          n: 0,
          limit: flags & 8 ? MAX_TOTAL : Math.min(usize, MAX_TOTAL),
        };
        this.state = 'data';
        this.descriptor = (flags & 8) !== 0;
        this.tried = 0;
        continue;
      }
      if (this.state === 'data') {
        const done = this.cur!.e.method === 0 ? this.storedData() : await this.deflatedData();
        if (!done || (this.state as string) === 'failed') return;
        this.finishEntry();
        this.state = this.descriptor ? 'descriptor' : 'header';
        continue;
      }
      if (this.state === 'descriptor') {
        if (this.buf.length < 28 && !this.atEnd) return;
        const skip = this.descriptorLength();
        if (skip < 0) return void (this.state = 'failed');
        this.consume(skip);
        this.state = 'header';
        continue;
      }
      return;
    }
  }

  private descriptor = false;
  /** Buffered bytes at the last synchronous attempt on the current entry (0: none yet). */
  private tried = 0;
  private atEnd = false;
  private inflater: ReturnType<typeof createInflateRaw> | undefined;
  private ended = false;
  private given = 0;

  /** Length of the data descriptor: with or without its signature, 32- or 64-bit sizes. */
  private descriptorLength(): number {
    const sigAt = (i: number): boolean =>
      this.buf.length >= i + 4 && [LOCAL, CENTRAL].includes(this.buf.readUInt32LE(i));
    const signed = this.buf.length >= 4 && this.buf.readUInt32LE(0) === DESCRIPTOR;
    for (const len of signed ? [16, 24] : [12, 20]) if (sigAt(len)) return len;
    return -1;
  }

  private storedData(): boolean {
    const c = this.cur!;
    const want = c.e.compressedSize - c.n;
    const take = this.consume(Math.min(want, this.buf.length));
    this.absorb(take);
    return c.n === c.e.compressedSize;
  }

  private newInflater(): ReturnType<typeof createInflateRaw> {
    this.ended = false;
    this.given = 0;
    const inf = createInflateRaw({ chunkSize: STREAM_CHUNK });
    inf.on('data', (d: Buffer) => this.absorb(d));
    inf.on('end', () => (this.ended = true));
    inf.on('error', () => void (this.state = 'failed'));
    return inf;
  }

  /**
   * Inflates the entry in one call when its deflate stream ends within the
   * buffered bytes: 'done', or 'more' when it runs past them (tried again once
   * twice as many bytes are buffered, so the retries cost at most as much
   * again), or 'stream' when it is too large for one call or malformed (the
   * inflater then judges it, as for any large entry).
   */
  private inflateAtOnce(): 'done' | 'more' | 'stream' {
    const avail = this.buf.length;
    if (avail === 0 || (this.tried > 0 && avail < 2 * this.tried && !this.atEnd)) return 'more';
    if (this.tried >= SYNC_INPUT) return 'stream';
    this.tried = avail;
    const input = this.buf.subarray(0, Math.min(avail, SYNC_INPUT));
    let out: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      const max = Math.min(this.cur!.limit - this.cur!.n, SYNC_OUTPUT) + 1;
      const opts = { info: true, maxOutputLength: max, chunkSize: 16 << 10 };
      out = inflateRawSync(input, opts) as unknown as typeof out;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'Z_BUF_ERROR' && input.length === avail && avail < SYNC_INPUT
        ? 'more'
        : 'stream';
    }
    const used = out.engine.bytesWritten;
    if (used <= 0 || used > input.length) return 'stream';
    this.consume(used);
    this.cur!.e.compressedSize = used;
    this.absorb(out.buffer);
    return 'done';
  }

  /** Feeds buffered bytes to the inflater; true once the deflate stream has ended. */
  private async deflatedData(): Promise<boolean> {
    if (!this.inflater) {
      const r = this.inflateAtOnce();
      if (r !== 'stream') return r === 'done';
      this.inflater = this.newInflater();
    }
    const inf = this.inflater;
    if (this.buf.length === 0) return false;
    const chunk = this.buf;
    // A stream that fails (bad deflate data) may never call the write back: its error settles it too.
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => reject(err);
      inf.once('error', fail);
      inf.write(chunk, (err) => {
        inf.off('error', fail);
        if (err) reject(err);
        else resolve();
      });
    });
    await new Promise((r) => setImmediate(r));
    if (!this.ended) {
      this.consume(chunk.length);
      this.given += chunk.length;
      return false;
    }
    const used = inf.bytesWritten - this.given;
    if (used < 0 || used > chunk.length) throw new Error('inflater consumed an unexpected amount');
    this.consume(used);
    this.cur!.e.compressedSize = inf.bytesWritten;
    return true;
  }

  private absorb(d: Buffer): void {
    const c = this.cur!;
    c.n += d.length;
    this.total += d.length;
    if (this.total > MAX_TOTAL || c.n > c.limit) {
      this.state = 'failed';
      this.inflater?.destroy();
      return;
    }
    c.hash.update(d);
    c.crc = crc32(d, c.crc);
  }

  private finishEntry(): void {
    const c = this.cur!;
    this.out.push({
      ...c.e,
      uncompressedSize: c.n,
      crc32: c.crc >>> 0,
      sha256: c.hash.digest().toString('latin1'),
    });
    this.cur = undefined;
    this.inflater = undefined;
  }

  override _flush(cb: TransformCallback): void {
    this.atEnd = true;
    if (this.state === 'descriptor' || this.state === 'data') {
      this.step()
        .catch(() => void (this.state = 'failed'))
        .finally(() => {
          if (this.state !== 'done') this.state = 'failed';
          cb();
        });
      return;
    }
    if (this.state !== 'done') this.state = 'failed';
    cb();
  }
}
