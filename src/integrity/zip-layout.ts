/**
 * The byte layout of a module zip (PKWARE APPNOTE 6.3.10, sections 4.3.6 to
 * 4.3.16 and 4.5.3), read as Go's archive/zip reads it (readDirectoryEnd,
 * findSignatureInBlock, findDirectory64End, readDirectoryHeader,
 * findBodyOffset, readDataDescriptor), and accepted only where every reader
 * must see the same entries: one end record, at the end (a comment aside);
 * ZIP64 only when a 32-bit field saturates, and then consistent; the entries
 * back to back from offset 0 in central-directory order, each local header
 * equal to its central header, and every data descriptor equal to both.
 * Everything else is ZIP_INVALID with a message saying what.
 */
import { ModgateError } from '../errors.js';

const EOCD_SIG = 0x06054b50;
const EOCD_LEN = 22;
const LOC64_SIG = 0x07064b50;
const LOC64_LEN = 20;
const EOCD64_SIG = 0x06064b50;
const EOCD64_LEN = 56;
const CENTRAL_SIG = 0x02014b50;
const CENTRAL_LEN = 46;
const LOCAL_SIG = 0x04034b50;
export const LOCAL_LEN = 30;
const DESCRIPTOR_SIG = 0x08074b50;
const ZIP64_EXTRA = 0x0001;
const U16 = 0xffff;
const U32 = 0xffffffff;
/** Flags a reader may meet: deflate options (1, 2), data descriptor (3), UTF-8 names (11). */
const KNOWN_FLAGS = 0x080e;
export const FLAG_DESCRIPTOR = 0x8;

/** Random access to the zip's bytes; `read` returns exactly `len` bytes or throws. */
export interface ZipSource {
  readonly size: number;
  read(pos: number, len: number): Promise<Buffer>;
}

export interface LayoutLimits {
  /** Entries in the central directory. */
  maxEntries: number;
  /** Bytes of the central directory, which is held in memory while verifying. */
  maxDirectoryBytes: number;
}

/** The central directory, one typed array per field, so that memory stays small per entry. */
export interface ZipDirectory {
  count: number;
  cd: Buffer;
  nameStart: Uint32Array;
  nameLen: Uint16Array;
  flags: Uint16Array;
  method: Uint16Array;
  crc: Uint32Array;
  external: Uint32Array;
  csize: Float64Array;
  usize: Float64Array;
  offset: Float64Array;
  /** Where each entry's stored data starts; filled in by checkLocalHeaders. */
  dataStart: Float64Array;
  cdOffset: number;
}

export function invalid(message: string, details: Record<string, unknown> = {}): ModgateError {
  return new ModgateError('ZIP_INVALID', `zip: not a valid zip file (${message})`, details);
}

export const entryName = (d: ZipDirectory, i: number): Buffer =>
  d.cd.subarray(d.nameStart[i]!, d.nameStart[i]! + d.nameLen[i]!);

const isDirName = (d: ZipDirectory, i: number): boolean =>
  d.nameLen[i]! > 0 && d.cd[d.nameStart[i]! + d.nameLen[i]! - 1] === 0x2f;

/** findSignatureInBlock: the last end-record signature, or -1 when its comment would not fit. */
function findEnd(b: Buffer): number {
  for (let i = b.length - EOCD_LEN; i >= 0; i--) {
    if (b.readUInt32LE(i) === EOCD_SIG)
      return b.readUInt16LE(i + EOCD_LEN - 2) + EOCD_LEN + i > b.length ? -1 : i;
  }
  return -1;
}

interface End {
  offset: number;
  records: number;
  cdSize: number;
  cdOffset: number;
  /** Where the central directory must end: the ZIP64 end record if any, else the end record. */
  cdEnd: number;
}

async function readEnd(src: ZipSource): Promise<End> {
  let buf: Buffer = Buffer.alloc(0);
  let at = -1;
  for (const len of [1024, 65 * 1024]) {
    const n = Math.min(len, src.size);
    buf = await src.read(src.size - n, n);
    const p = findEnd(buf);
    if (p >= 0) {
      at = src.size - n + p;
      buf = buf.subarray(p);
      break;
    }
    if (n === src.size) break;
  }
  if (at < 0) throw invalid('no end of central directory record');
  const commentLen = buf.readUInt16LE(20);
  if (at + EOCD_LEN + commentLen !== src.size)
    throw invalid('bytes after the end of central directory record');
  if (buf.subarray(EOCD_LEN).includes(buf.subarray(0, 4)))
    throw invalid('a second end of central directory signature in the comment');
  const [disk, cdDisk, here, records] = [0, 2, 4, 6].map((k) => buf.readUInt16LE(4 + k)) as [
    number,
    number,
    number,
    number,
  ];
  if (disk !== 0 || cdDisk !== 0 || here !== records)
    throw invalid('end of central directory record names other disks');
  const end: End = {
    offset: at,
    records,
    cdSize: buf.readUInt32LE(12),
    cdOffset: buf.readUInt32LE(16),
    cdEnd: at,
  };
  const saturated = records === U16 || end.cdSize === U32 || end.cdOffset === U32;
  // Go looks for ZIP64 records also when the directory is exactly 0xffff bytes long.
  const looks = saturated || end.cdSize === U16;
  const loc = looks ? await findZip64(src, at) : -1;
  if (loc >= 0) return readZip64(src, end, loc, saturated);
  if (saturated) throw invalid('saturated end of central directory record without ZIP64 records');
  return end;
}

/** findDirectory64End: the ZIP64 end record's offset named by a valid locator, or -1. */
async function findZip64(src: ZipSource, eocd: number): Promise<number> {
  if (eocd < LOC64_LEN) return -1;
  const b = await src.read(eocd - LOC64_LEN, LOC64_LEN);
  if (b.readUInt32LE(0) !== LOC64_SIG || b.readUInt32LE(4) !== 0 || b.readUInt32LE(16) !== 1)
    return -1;
  const p = Number(b.readBigUInt64LE(8));
  if (p !== eocd - LOC64_LEN - EOCD64_LEN)
    throw invalid('ZIP64 end record is not right before its locator');
  return p;
}

async function readZip64(src: ZipSource, end: End, at: number, saturated: boolean): Promise<End> {
  if (!saturated) throw invalid('ZIP64 records while no 32-bit field is saturated');
  const b = await src.read(at, EOCD64_LEN);
  if (b.readUInt32LE(0) !== EOCD64_SIG) throw invalid('bad ZIP64 end record signature');
  if (Number(b.readBigUInt64LE(4)) !== EOCD64_LEN - 12)
    throw invalid('ZIP64 end record has extensible data');
  const records = Number(b.readBigUInt64LE(32));
  const cdSize = Number(b.readBigUInt64LE(40));
  const cdOffset = Number(b.readBigUInt64LE(48));
  if (
    b.readUInt32LE(16) !== 0 ||
    b.readUInt32LE(20) !== 0 ||
    b.readBigUInt64LE(24) !== BigInt(records)
  )
    throw invalid('ZIP64 end record names other disks');
  const agrees = (v32: number, sat: number, v64: number): boolean => v32 === sat || v32 === v64;
  if (
    !agrees(end.records, U16, records) ||
    !agrees(end.cdSize, U32, cdSize) ||
    !agrees(end.cdOffset, U32, cdOffset)
  )
    throw invalid('ZIP64 end record disagrees with the end of central directory record');
  if (records < U16 && cdSize < U32 && cdOffset < U32)
    throw invalid('ZIP64 end record holds values that fit in 32 bits');
  return { offset: end.offset, records, cdSize, cdOffset, cdEnd: at };
}

/** Reads and checks the central directory, entry by entry. */
export async function readDirectory(src: ZipSource, limits: LayoutLimits): Promise<ZipDirectory> {
  const end = await readEnd(src);
  if (end.cdOffset + end.cdSize !== end.cdEnd)
    throw invalid('the central directory does not end where its end record starts');
  if (end.records > limits.maxEntries)
    throw new ModgateError(
      'ZIP_TOO_MANY_FILES',
      `module zip has ${end.records} entries; the limit is ${limits.maxEntries}`,
      { entries: end.records, limit: limits.maxEntries },
    );
  if (end.cdSize > limits.maxDirectoryBytes)
    throw new ModgateError(
      'ZIP_TOO_MANY_FILES',
      `module zip central directory is ${end.cdSize} bytes; the limit is ${limits.maxDirectoryBytes}`,
      { directoryBytes: end.cdSize, limit: limits.maxDirectoryBytes },
    );
  if (end.records * CENTRAL_LEN > end.cdSize)
    throw invalid('central directory too short for its entry count');
  const n = end.records;
  const d: ZipDirectory = {
    count: n,
    cd: await src.read(end.cdOffset, end.cdSize),
    nameStart: new Uint32Array(n),
    nameLen: new Uint16Array(n),
    flags: new Uint16Array(n),
    method: new Uint16Array(n),
    crc: new Uint32Array(n),
    external: new Uint32Array(n),
    csize: new Float64Array(n),
    usize: new Float64Array(n),
    offset: new Float64Array(n),
    dataStart: new Float64Array(n),
    cdOffset: end.cdOffset,
  };
  let p = 0;
  for (let i = 0; i < n; i++) p = parseCentral(d, i, p);
  if (p !== d.cd.length) throw invalid('bytes after the last central directory header');
  return d;
}

function parseCentral(d: ZipDirectory, i: number, p: number): number {
  const cd = d.cd;
  if (p + CENTRAL_LEN > cd.length || cd.readUInt32LE(p) !== CENTRAL_SIG)
    throw invalid(`bad central directory header ${i}`);
  const nameLen = cd.readUInt16LE(p + 28);
  const extraLen = cd.readUInt16LE(p + 30);
  const next = p + CENTRAL_LEN + nameLen + extraLen + cd.readUInt16LE(p + 32);
  if (next > cd.length) throw invalid(`central directory header ${i} overruns the directory`);
  d.nameStart[i] = p + CENTRAL_LEN;
  d.nameLen[i] = nameLen;
  d.flags[i] = cd.readUInt16LE(p + 8);
  d.method[i] = cd.readUInt16LE(p + 10);
  d.crc[i] = cd.readUInt32LE(p + 16);
  d.external[i] = cd.readUInt32LE(p + 38);
  const sizes = [cd.readUInt32LE(p + 20), cd.readUInt32LE(p + 24), cd.readUInt32LE(p + 42)];
  const extra = cd.subarray(p + CENTRAL_LEN + nameLen, p + CENTRAL_LEN + nameLen + extraLen);
  const [csize, usize, offset] = zip64Values(extra, sizes, i);
  d.csize[i] = csize;
  d.usize[i] = usize;
  d.offset[i] = offset;
  const name = entryName(d, i).toString('utf8');
  if ((d.flags[i]! & ~KNOWN_FLAGS) !== 0)
    throw invalid(`entry ${name} has unsupported flags 0x${d.flags[i]!.toString(16)}`, { name });
  if (d.method[i] !== 0 && d.method[i] !== 8)
    throw invalid(`entry ${name} uses compression method ${d.method[i]}`, { name });
  if (cd.readUInt16LE(p + 34) !== 0)
    throw invalid(`entry ${name} starts on another disk`, { name });
  if (d.method[i] === 0 && csize !== usize)
    throw invalid(`stored entry ${name} has different compressed and uncompressed sizes`, { name });
  if (isDirName(d, i) && (csize !== 0 || usize !== 0 || d.crc[i] !== 0 || d.flags[i]! & 8))
    throw invalid(`directory entry ${name} has data`, { name });
  return next;
}

/**
 * readDirectoryHeader's ZIP64 rule, made strict: a ZIP64 extra field exactly
 * when a 32-bit field saturates, holding exactly those fields (uncompressed,
 * compressed, offset order), each of which really needs 64 bits.
 */
function zip64Values(extra: Buffer, [c, u, o]: number[], i: number): [number, number, number] {
  let field: Buffer | undefined;
  let at = 0;
  while (at < extra.length) {
    if (at + 4 > extra.length) throw invalid(`malformed extra field in entry ${i}`);
    const tag = extra.readUInt16LE(at);
    const len = extra.readUInt16LE(at + 2);
    if (at + 4 + len > extra.length) throw invalid(`malformed extra field in entry ${i}`);
    if (tag === ZIP64_EXTRA) {
      if (field) throw invalid(`two ZIP64 extra fields in entry ${i}`);
      field = extra.subarray(at + 4, at + 4 + len);
    }
    at += 4 + len;
  }
  const need = [u === U32, c === U32, o === U32];
  const count = need.filter(Boolean).length;
  if (!field) {
    if (count) throw invalid(`entry ${i} has a saturated size or offset without ZIP64 data`);
    return [c!, u!, o!];
  }
  if (field.length !== 8 * count || count === 0)
    throw invalid(`entry ${i} has a ZIP64 extra field that does not match its saturated fields`);
  const vals = [u!, c!, o!];
  let k = 0;
  for (let j = 0; j < 3; j++) {
    if (!need[j]) continue;
    const v = Number(field.readBigUInt64LE(8 * k++));
    if (v < U32) throw invalid(`entry ${i} has a ZIP64 value that fits in 32 bits`);
    vals[j] = v;
  }
  return [vals[1]!, vals[0]!, vals[2]!];
}

/**
 * Each local header, in order: at the offset where the previous entry ended
 * (the first at 0), equal to its central header, followed by exactly the
 * stored data and, when flagged, a data descriptor equal to both; the last
 * entry ends where the central directory starts.
 */
export async function checkLocalHeaders(src: ZipSource, d: ZipDirectory): Promise<void> {
  const reader = new WindowReader(src);
  let expected = 0;
  for (let i = 0; i < d.count; i++) {
    const name = entryName(d, i);
    const what = name.toString('utf8');
    if (d.offset[i] !== expected)
      throw invalid(
        expected === 0
          ? 'bytes before the first local header'
          : `entry ${what} does not start where the previous entry ended (gap or overlap)`,
        { name: what },
      );
    const h = await reader.read(expected, LOCAL_LEN);
    if (h.readUInt32LE(0) !== LOCAL_SIG)
      throw invalid(`bad local header for ${what}`, { name: what });
    const nameLen = h.readUInt16LE(26);
    const extraLen = h.readUInt16LE(28);
    const flags = h.readUInt16LE(6);
    const [crc, csize, usize] = [h.readUInt32LE(14), h.readUInt32LE(18), h.readUInt32LE(22)];
    const localName = await reader.read(expected + LOCAL_LEN, nameLen);
    const descriptor = (d.flags[i]! & FLAG_DESCRIPTOR) !== 0;
    const sizesOk =
      (descriptor && crc === 0 && csize === 0 && usize === 0) ||
      (crc === d.crc[i] && csize === d.csize[i] && usize === d.usize[i]);
    if (
      !localName.equals(name) ||
      flags !== d.flags[i] ||
      h.readUInt16LE(8) !== d.method[i] ||
      !sizesOk
    )
      throw invalid(`local header of ${what} differs from its central directory header`, {
        name: what,
      });
    d.dataStart[i] = expected + LOCAL_LEN + nameLen + extraLen;
    expected = d.dataStart[i]! + d.csize[i]!;
    if (descriptor) expected += await checkDescriptor(reader, d, i, expected, what);
    if (expected > d.cdOffset)
      throw invalid(`entry ${what} overlaps the central directory`, { name: what });
  }
  if (expected !== d.cdOffset)
    throw invalid('bytes between the last entry and the central directory');
}

/** readDataDescriptor, made strict: CRC-32 and both sizes equal the central header's. */
async function checkDescriptor(
  reader: WindowReader,
  d: ZipDirectory,
  i: number,
  at: number,
  what: string,
): Promise<number> {
  const avail = Math.min(16, d.cdOffset - at);
  if (avail < 12) throw invalid(`data descriptor of ${what} is missing`, { name: what });
  const b = await reader.read(at, avail);
  const signed = b.readUInt32LE(0) === DESCRIPTOR_SIG;
  if (signed && avail < 16)
    throw invalid(`data descriptor of ${what} is cut short`, { name: what });
  const k = signed ? 4 : 0;
  if (b.readUInt32LE(k) !== d.crc[i])
    throw invalid(`data descriptor CRC-32 of ${what} differs from its header`, { name: what });
  if (b.readUInt32LE(k + 4) !== d.csize[i] || b.readUInt32LE(k + 8) !== d.usize[i])
    throw invalid(`data descriptor sizes of ${what} differ from its header`, { name: what });
  return k + 12;
}

/** Serves small sequential reads (headers of many small entries) from one larger read. */
class WindowReader {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  constructor(private readonly src: ZipSource) {}
  async read(pos: number, len: number): Promise<Buffer> {
    if (pos + len > this.src.size)
      throw invalid('truncated: a header runs past the end of the file');
    if (pos < this.start || pos + len > this.start + this.buf.length) {
      const n = Math.min(Math.max(len, 64 << 10), this.src.size - pos);
      this.buf = await this.src.read(pos, n);
      this.start = pos;
    }
    return this.buf.subarray(pos - this.start, pos - this.start + len);
  }
}
