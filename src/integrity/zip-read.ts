/**
 * Reading module zips from disk through one file handle with positional
 * reads, and inflating each entry with its output bounded by its declared
 * size while it inflates. The layout rules live in zip-layout.ts, the module
 * rules in zip-check.ts.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { crc32, createInflateRaw, inflateRawSync } from 'node:zlib';
import { ModgateError } from '../errors.js';
import { entryName, invalid, type ZipDirectory, type ZipSource } from './zip-layout.js';
import type { StreamedEntry } from './zipstream.js';

/** The file system calls the reader makes; a seam so that tests can count opens. */
export const zipFs = {
  open: (file: string): Promise<FileHandle> => open(file, 'r'),
};

export interface ZipFile extends ZipSource {
  close(): Promise<void>;
}

/** Opens the zip once; every later read is a positional read on that handle. */
export async function openZipFile(file: string): Promise<ZipFile> {
  const fh = await zipFs.open(file).catch((err: NodeJS.ErrnoException) => {
    throw new ModgateError('FILE_UNREADABLE', `cannot read ${file}: ${err.code ?? err.message}`);
  });
  try {
    const { size } = await fh.stat();
    return {
      size,
      async read(pos, len) {
        if (pos < 0 || pos + len > size) throw invalid('truncated: a read runs past the end');
        const buf = Buffer.allocUnsafe(len);
        let got = 0;
        while (got < len) {
          const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
          if (bytesRead === 0) throw invalid('truncated: the file ended early');
          got += bytesRead;
        }
        return buf;
      },
      close: () => fh.close(),
    };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Serves the small reads of many small entries from one 1 MiB window, so
 * that a zip of tens of thousands of files costs a few hundred reads, not
 * one per entry. Large reads go straight to the file.
 */
export class ReadWindow implements ZipSource {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  constructor(private readonly src: ZipSource) {}
  get size(): number {
    return this.src.size;
  }
  async read(pos: number, len: number): Promise<Buffer> {
    if (len >= 64 << 10) return this.src.read(pos, len);
    if (pos < this.start || pos + len > this.start + this.buf.length) {
      if (pos < 0 || pos + len > this.src.size)
        throw invalid('truncated: a read runs past the end');
      const buf = await this.src.read(pos, Math.min(1 << 20, this.src.size - pos));
      [this.buf, this.start] = [buf, pos];
      return buf.subarray(0, len);
    }
    return this.buf.subarray(pos - this.start, pos - this.start + len);
  }
}

export interface Inflated {
  sha256: Buffer;
  data?: Buffer;
}

/** Entries at most this large (stored and inflated) are inflated in one synchronous call. */
const SMALL = 256 << 10;
/** Read size for the stored bytes of larger entries, and the inflater's output chunk. */
const PIECE = 512 << 10;

function overrun(name: string, declared: number, produced: number): ModgateError {
  return new ModgateError(
    'ZIP_INVALID',
    `uncompressed size of file ${name} is larger than declared size (${declared} bytes)`,
    { name, declared, produced },
  );
}

/**
 * Inflates entry i into `sink`, never producing more than one chunk past its
 * declared size: an overrun is an error at that moment. The deflate stream
 * must end exactly at the end of the stored bytes.
 */
async function inflate(
  src: ZipSource,
  d: ZipDirectory,
  i: number,
  name: string,
  sink: (b: Buffer) => void,
): Promise<void> {
  const start = d.dataStart[i]!;
  const csize = d.csize[i]!;
  const declared = d.usize[i]!;
  if (d.method[i] === 0) {
    for (let at = 0; at < csize; at += PIECE)
      sink(await src.read(start + at, Math.min(PIECE, csize - at)));
    return;
  }
  if (csize <= SMALL && declared <= SMALL) {
    const raw = await src.read(start, csize);
    let out: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      // A small output chunk: a zip of many tiny files would otherwise allocate 16 KiB per file.
      const chunkSize = Math.max(64, Math.min(16 << 10, declared + 1));
      const opts = { maxOutputLength: declared + 1, chunkSize, info: true };
      out = inflateRawSync(raw, opts) as unknown as {
        buffer: Buffer;
        engine: { bytesWritten: number };
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        throw overrun(name, declared, declared + 1);
      throw invalid(`bad deflate data in ${name}: ${(err as Error).message}`, { name });
    }
    if (out.engine.bytesWritten !== csize)
      throw invalid(`deflate data of ${name} ends before its stored bytes do`, { name });
    sink(out.buffer);
    return;
  }
  await inflateStream(src, start, csize, declared, name, sink);
}

async function inflateStream(
  src: ZipSource,
  start: number,
  csize: number,
  declared: number,
  name: string,
  sink: (b: Buffer) => void,
): Promise<void> {
  const inf = createInflateRaw({ chunkSize: PIECE });
  let produced = 0;
  let failure: unknown;
  const done = new Promise<void>((resolve, reject) => {
    inf.on('data', (b: Buffer) => {
      produced += b.length;
      if (produced > declared) return void inf.destroy(overrun(name, declared, produced));
      try {
        sink(b);
      } catch (err) {
        inf.destroy(err as Error);
      }
    });
    inf.on('end', resolve);
    inf.on('error', reject);
  });
  done.catch((err: unknown) => (failure ??= err));
  for (let at = 0; at < csize && failure === undefined; at += PIECE) {
    const piece = await src.read(start + at, Math.min(PIECE, csize - at));
    if (failure !== undefined || inf.destroyed) break;
    if (!inf.write(piece))
      await new Promise<void>((r) => {
        inf.once('drain', r);
        inf.once('close', r);
      });
  }
  if (failure === undefined && !inf.destroyed) inf.end();
  try {
    await done;
  } catch (err) {
    if (!String((err as NodeJS.ErrnoException).code).startsWith('Z_')) throw err;
    throw invalid(`bad deflate data in ${name}: ${(err as Error).message}`, { name });
  }
  if (inf.bytesWritten !== csize)
    throw invalid(`deflate data of ${name} ends before its stored bytes do`, { name });
}

/** Inflates and hashes one entry, then checks its size and CRC-32 against the headers. */
export async function digestEntry(
  src: ZipSource,
  d: ZipDirectory,
  i: number,
  keep: boolean,
  onInflated?: (bytes: number) => void,
): Promise<Inflated> {
  const name = entryName(d, i).toString('utf8');
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let n = 0;
  let crc = 0;
  await inflate(src, d, i, name, (b) => {
    onInflated?.(b.length);
    n += b.length;
    if (n > d.usize[i]!) throw overrun(name, d.usize[i]!, n);
    hash.update(b);
    crc = crc32(b, crc);
    if (keep) chunks.push(b);
  });
  if (n !== d.usize[i])
    throw invalid(`${name} inflates to ${n} bytes, but ${d.usize[i]} are declared`, { name });
  if (crc >>> 0 !== d.crc[i]) throw invalid(`checksum error in ${name}`, { name });
  return { sha256: hash.digest(), ...(keep ? { data: Buffer.concat(chunks) } : {}) };
}

const STOPPED = new Error('stopped after another entry failed');

/** Entries inflated at once: inflation runs in the thread pool while the main thread hashes. */
const PARALLEL_ENTRIES = 3;

/**
 * Digests the entries for which `want(i)` holds into `out` (32 bytes each,
 * at 32 * i), a few at a time. On failure no new entry starts, and the error
 * of the lowest-numbered failing entry is thrown, as a sequential pass would.
 * Returns the kept entry's data, if any.
 */
export async function digestAll(
  src: ZipSource,
  d: ZipDirectory,
  out: Buffer,
  want: (i: number) => boolean,
  keep: number,
  onInflated?: (bytes: number) => void,
): Promise<Buffer | undefined> {
  const errors = new Map<number, unknown>();
  const win = new ReadWindow(src);
  // Entries in flight stop as soon as one fails: a bomb must not keep the others inflating.
  const observe = (n: number): void => {
    if (errors.size) throw STOPPED;
    onInflated?.(n);
  };
  let kept: Buffer | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < d.count && errors.size === 0) {
      const i = next++;
      if (!want(i)) continue;
      try {
        const r = await digestEntry(win, d, i, i === keep, observe);
        r.sha256.copy(out, 32 * i);
        if (r.data) kept = r.data;
      } catch (err) {
        if (err !== STOPPED) errors.set(i, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_ENTRIES, d.count) }, worker));
  if (errors.size) throw errors.get(Math.min(...errors.keys()));
  return kept;
}

/**
 * Copies the digests taken while the zip streamed in, when they describe
 * exactly the entries of the central directory (offset, method, sizes,
 * CRC-32: checkLocalHeaders has already proven that the local header at each
 * offset names the same file); returns false otherwise.
 */
export function fromStream(
  d: ZipDirectory,
  streamed: StreamedEntry[] | null | undefined,
  out: Buffer,
): boolean {
  if (!streamed || streamed.length !== d.count) return false;
  for (let i = 0; i < d.count; i++) {
    const s = streamed[i]!;
    const same =
      s.offset === d.offset[i] &&
      s.method === d.method[i] &&
      s.compressedSize === d.csize[i] &&
      s.uncompressedSize === d.usize[i] &&
      s.crc32 === d.crc[i];
    if (!same) return false;
    if (out.write(s.sha256, 32 * i, 32, 'latin1') !== 32) return false;
  }
  return true;
}
