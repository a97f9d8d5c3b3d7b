/**
 * Reading module zips from disk: the central directory through yauzl, and each
 * entry's data inflated and hashed in 1 MiB pieces, a few entries at a time.
 * The rules themselves live in zip.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createInflateRaw } from 'node:zlib';
import yauzl from 'yauzl';
import { ModgateError, isModgateError } from '../errors.js';
import type { StreamedEntry } from './zipstream.js';

export function corrupt(err: unknown): ModgateError {
  if (isModgateError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/bytes in the stream|size mismatch/.test(msg))
    return new ModgateError('ZIP_SIZE_MISMATCH', `zip: ${msg}`, {}, { cause: err });
  return new ModgateError('ZIP_CORRUPT', `zip: not a valid zip file (${msg})`, {}, { cause: err });
}

/** The file behind each open zip, so entry data can be read with large reads. */
const zipFiles = new WeakMap<yauzl.ZipFile, string>();

export function openZip(file: string): Promise<yauzl.ZipFile> {
  const options = {
    lazyEntries: true,
    autoClose: false,
    decodeStrings: false,
    validateEntrySizes: true,
  };
  return new Promise((resolve, reject) => {
    yauzl.open(file, options, (err, zf) => {
      if (err || !zf) return reject(corrupt(err));
      zipFiles.set(zf, file);
      resolve(zf);
    });
  });
}

export function readEntries(zf: yauzl.ZipFile, maxFiles: number): Promise<yauzl.Entry[]> {
  const entries: yauzl.Entry[] = [];
  return new Promise((resolve, reject) => {
    zf.on('entry', (e: yauzl.Entry) => {
      entries.push(e);
      if (entries.length > maxFiles) {
        reject(
          new ModgateError('ZIP_TOO_MANY_FILES', `module zip has more than ${maxFiles} entries`, {
            maxFiles,
          }),
        );
        return;
      }
      zf.readEntry();
    });
    zf.on('end', () => resolve(entries));
    zf.on('error', (err) => reject(corrupt(err)));
    zf.readEntry();
  });
}

export const rawName = (e: yauzl.Entry): Buffer => e.fileName as unknown as Buffer;

export interface Inflated {
  sha256: Buffer;
  data?: Buffer;
}

/**
 * The stored (compressed) bytes of an entry, read in 1 MiB slices: inflating
 * many small chunks costs a thread-pool round trip each.
 */
async function openEntryData(zf: yauzl.ZipFile, e: yauzl.Entry): Promise<NodeJS.ReadableStream> {
  const { fileDataStart } = await new Promise<{ fileDataStart: number }>((resolve, reject) => {
    zf.readLocalFileHeader(e, { minimal: true }, (err, h) =>
      err || !h ? reject(err) : resolve(h as { fileDataStart: number }),
    );
  });
  const file = zipFiles.get(zf);
  if (!file || e.compressedSize === 0) {
    return new Promise((resolve, reject) => {
      zf.openReadStream(e, { decompress: false }, (err, s) =>
        err || !s ? reject(err) : resolve(s),
      );
    });
  }
  return createReadStream(file, {
    start: fileDataStart,
    end: fileDataStart + e.compressedSize - 1,
    highWaterMark: 1 << 20,
  });
}

/** The streamed digests, when they describe exactly the entries of the central directory. */
export function fromStream(
  entries: yauzl.Entry[],
  streamed: StreamedEntry[] | null | undefined,
): Inflated[] | null {
  if (!streamed || streamed.length !== entries.length) return null;
  const out: Inflated[] = [];
  for (const [i, e] of entries.entries()) {
    const s = streamed[i]!;
    const name = rawName(e);
    const same =
      s.offset === e.relativeOffsetOfLocalHeader &&
      s.name.equals(name) &&
      s.method === e.compressionMethod &&
      s.compressedSize === e.compressedSize &&
      s.uncompressedSize === e.uncompressedSize &&
      s.crc32 === e.crc32 >>> 0;
    // A directory entry with content is an error the ordinary path reports.
    if (!same || (name[name.length - 1] === 0x2f && s.uncompressedSize > 0)) return null;
    out.push({ sha256: s.sha256, ...(s.data ? { data: s.data } : {}) });
  }
  return out;
}

/** Entries inflated at once: inflation runs in the thread pool while the main thread hashes. */
const PARALLEL_ENTRIES = 3;

/**
 * Digests every entry, a few at a time; results keep the entries' order. On
 * failure no new entry starts, and the error of the lowest-numbered failing
 * entry is thrown, as a sequential pass would.
 */
export async function digestAll(
  zf: yauzl.ZipFile,
  entries: yauzl.Entry[],
  goModName: string,
): Promise<Inflated[]> {
  const results: Inflated[] = new Array(entries.length);
  const errors = new Map<number, unknown>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length && errors.size === 0) {
      const i = next++;
      const e = entries[i]!;
      const name = rawName(e).toString('utf8');
      try {
        results[i] = await digestEntry(zf, e, name, name === goModName);
      } catch (err) {
        errors.set(i, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_ENTRIES, entries.length) }, worker));
  if (errors.size) throw errors.get(Math.min(...errors.keys()));
  return results;
}

/** Inflates one entry, hashing as it goes and stopping as soon as it overruns its declared size. */
async function inflateEntry(
  zf: yauzl.ZipFile,
  e: yauzl.Entry,
  name: string,
  keep: boolean,
): Promise<Inflated> {
  const declared = e.uncompressedSize;
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let n = 0;
  let crc = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > declared) return void cb(new Error('too many bytes'));
      hash.update(chunk);
      crc = crc32(chunk, crc);
      if (keep) chunks.push(chunk);
      cb();
    },
  });
  try {
    // Read the stored bytes and inflate them here with 1 MiB output chunks:
    // far fewer, larger chunks than yauzl's own inflater gives.
    const raw = await openEntryData(zf, e);
    if (e.compressionMethod === 8)
      await pipeline(raw, createInflateRaw({ chunkSize: 1 << 20 }), sink);
    else if (e.compressionMethod === 0) await pipeline(raw, sink);
    else throw new Error(`unsupported compression method ${e.compressionMethod}`);
  } catch (err) {
    if (err instanceof Error && /too many bytes/.test(err.message)) n = declared + 1;
    else throw corrupt(err);
  }
  if (n > declared) {
    throw new ModgateError(
      'ZIP_SIZE_MISMATCH',
      `uncompressed size of file ${name} is larger than declared size (${declared} bytes)`,
      { name },
    );
  }
  if (n !== declared)
    throw new ModgateError(
      'ZIP_SIZE_MISMATCH',
      `uncompressed size of file ${name} is ${n}, declared ${declared}`,
      { name },
    );
  const hasDescriptor = (e.generalPurposeBitFlag & 0x8) !== 0;
  if ((e.crc32 !== 0 || hasDescriptor) && crc >>> 0 !== e.crc32 >>> 0) {
    throw new ModgateError('ZIP_CRC_MISMATCH', `zip: checksum error in ${name}`, { name });
  }
  return { sha256: hash.digest(), ...(keep ? { data: Buffer.concat(chunks) } : {}) };
}

export async function digestEntry(
  zf: yauzl.ZipFile,
  e: yauzl.Entry,
  name: string,
  keep: boolean,
): Promise<Inflated> {
  if (!name.endsWith('/')) return inflateEntry(zf, e, name, keep);
  if (e.compressedSize !== 0 || (e.generalPurposeBitFlag & 0x8) !== 0) {
    throw new ModgateError(
      'ZIP_CORRUPT',
      `zip: not a valid zip file (directory entry ${name} has data)`,
      { name },
    );
  }
  return { sha256: createHash('sha256').digest() };
}
