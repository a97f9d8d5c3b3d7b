import yazl from 'yazl';
import { buffer } from 'node:stream/consumers';
import type { Readable } from 'node:stream';

export interface ZipMember {
  /** Entry name exactly as stored; a name ending in "/" is a directory entry. */
  name: string | Buffer;
  data?: string | Buffer;
  /** Content streamed in (yazl then writes a data descriptor). */
  stream?: Readable;
  size?: number;
  compress?: boolean;
}

const SAFE = (name: string): boolean => {
  const parts = name.replace(/\/$/, '').split('/');
  return (
    name !== '' &&
    !name.startsWith('/') &&
    !/^[A-Za-z]:/.test(name) &&
    !name.includes('\\') &&
    !parts.includes('..')
  );
};

/**
 * Builds a zip with yazl. Names yazl refuses ("..", backslashes, raw bytes)
 * are written under a same-length placeholder and patched in afterwards.
 */
export async function makeZip(members: ZipMember[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const mtime = new Date('2020-01-01T00:00:00Z');
  const patches: Array<{ from: Buffer; to: Buffer }> = [];
  members.forEach((m, k) => {
    const raw = Buffer.isBuffer(m.name) ? m.name : Buffer.from(m.name, 'utf8');
    const isDir = raw[raw.length - 1] === 0x2f;
    let name = raw.toString('utf8');
    if (Buffer.isBuffer(m.name) || !SAFE(name)) {
      const filler = String.fromCharCode(1 + (k % 30)).repeat(raw.length - (isDir ? 1 : 0));
      name = isDir ? `${filler}/` : filler;
      patches.push({ from: Buffer.from(name, 'utf8'), to: raw });
    }
    if (isDir) zip.addEmptyDirectory(name, { mtime });
    else if (m.stream)
      zip.addReadStream(m.stream, name, {
        mtime,
        compress: m.compress ?? true,
        ...(m.size !== undefined ? { size: m.size } : {}),
      });
    else zip.addBuffer(Buffer.from(m.data ?? ''), name, { mtime, compress: m.compress ?? true });
  });
  zip.end();
  const out = await buffer(zip.outputStream);
  for (const p of patches) {
    let count = 0;
    for (let i = out.indexOf(p.from); i >= 0 && count < 2; i = out.indexOf(p.from, i + 1)) {
      p.to.copy(out, i);
      count++;
    }
    if (count !== 2) throw new Error(`zipmaker: could not patch name ${p.to.toString('utf8')}`);
  }
  return out;
}

/** Offsets of a 4-byte little-endian signature in a buffer. */
export function findSignatures(buf: Buffer, sig: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= buf.length; i++) if (buf.readUInt32LE(i) === sig) out.push(i);
  return out;
}

export const LOCAL_HEADER = 0x04034b50;
export const CENTRAL_HEADER = 0x02014b50;

/** Rewrites the declared uncompressed size of every entry (local and central headers). */
export function patchUncompressedSize(buf: Buffer, size: number): Buffer {
  const out = Buffer.from(buf);
  for (const i of findSignatures(out, LOCAL_HEADER)) out.writeUInt32LE(size, i + 22);
  for (const i of findSignatures(out, CENTRAL_HEADER)) out.writeUInt32LE(size, i + 24);
  return out;
}
