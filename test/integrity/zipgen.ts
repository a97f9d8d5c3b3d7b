/**
 * Random and mutated module zips from a fixed seed, for the differential test
 * against Go. A zip is first a structure (entries with every header field
 * spelled out, so that local, central and descriptor copies can disagree),
 * written byte for byte by `serialize`, then optionally mutated as bytes.
 */
import { crc32, deflateRawSync } from 'node:zlib';

/** mulberry32: small, fast, and the same sequence everywhere for a seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

export interface GenEntry {
  name: Buffer;
  data: Buffer;
  method: number;
  /** Stored bytes (deflated or not); may be tampered with apart from `data`. */
  stored: Buffer;
  flags: number;
  crc: number;
  csize: number;
  usize: number;
  extra: Buffer;
  comment: Buffer;
  external: number;
  local: {
    name: Buffer;
    flags: number;
    method: number;
    crc: number;
    csize: number;
    usize: number;
    extra: Buffer;
  };
  /** Written after the stored bytes when flags bit 3 is set. */
  descriptor?: { signed: boolean; crc: number; csize: number; usize: number };
  /** Bytes written between this entry and the next. */
  gapAfter?: Buffer;
}

export interface GenZip {
  mod: { path: string; version: string };
  entries: GenEntry[];
  comment: Buffer;
  prepend: Buffer;
  /** Central headers written, in order, as indexes into entries (repeats allowed). */
  order?: number[];
  /** Overrides of the end record's fields. */
  end?: { records?: number; cdSize?: number; cdOffset?: number; here?: number; disk?: number };
  /** ZIP64 end record and locator before the end record. */
  zip64?: {
    records?: number;
    cdSize?: number;
    cdOffset?: number;
    /** Saturate all three 32-bit fields, as Go's writer does. */
    saturate: boolean;
    recordSize?: number;
  };
  /** Offsets written into central headers: shift by this much (e.g. after a prepend). */
  offsetShift?: number;
  /** Point central header k at the local header of entry k+1's predecessor (an overlap). */
  overlap?: number;
  appendBytes?: Buffer;
}

const PREFIXES = [
  { path: 'example.com/m', version: 'v1.0.0' },
  { path: 'example.com/m/v2', version: 'v2.3.4' },
  { path: 'golang.org/x/tool', version: 'v0.0.0-20200101000000-abcdefabcdef' },
];

const NAMES = [
  'go.mod',
  'LICENSE',
  'a.go',
  'b.go',
  'A.go',
  'sub/c.go',
  'sub/d/e.go',
  'Sub/c.go',
  'sub/',
  'sub/d/',
  'x/go.mod',
  'Go.mod',
  '../evil.go',
  'a//b.go',
  'a\\b.go',
  'con.go',
  'README.md',
  '.hidden',
  'k\u212a.go',
  'doc/\u00e9t\u00e9.txt',
  'vendor/modules.txt',
  'sub',
  'a.go/',
  'x y.go',
  'a:b.go',
  'tab\tname.go',
];

function content(r: Rng): Buffer {
  const n = r.pick([0, 1, 10, 100, 1000, 5000, r.int(3000)]);
  if (r.chance(0.5)) return Buffer.from('package a\n// '.repeat(Math.ceil(n / 13)).slice(0, n));
  return r.bytes(n);
}

export function entry(name: Buffer, data: Buffer, r: Rng): GenEntry {
  const dir = name[name.length - 1] === 0x2f;
  const method = dir || r.chance(0.2) ? 0 : 8;
  const stored = method === 8 ? deflateRawSync(data, { level: r.pick([1, 6, 9]) }) : data;
  const crc = crc32(data) >>> 0;
  const descriptor = !dir && method === 8 && r.chance(0.5);
  const flags = (descriptor ? 8 : 0) | (r.chance(0.5) ? 0x800 : 0);
  const e: GenEntry = {
    name,
    data,
    method,
    stored,
    flags,
    crc,
    csize: stored.length,
    usize: data.length,
    extra: Buffer.alloc(0),
    comment: Buffer.alloc(0),
    external: dir ? 0o40755 << 16 : 0o100644 << 16,
    local: {
      name,
      flags,
      method,
      crc: descriptor ? 0 : crc,
      csize: descriptor ? 0 : stored.length,
      usize: descriptor ? 0 : data.length,
      extra: Buffer.alloc(0),
    },
  };
  if (descriptor)
    e.descriptor = { signed: r.chance(0.8), crc, csize: stored.length, usize: data.length };
  return e;
}

/** A random module zip, valid or not by module rules, but well formed. */
export function randomZip(r: Rng): GenZip {
  const mod = r.pick(PREFIXES);
  const prefix = `${mod.path}@${mod.version}/`;
  const n = r.pick([0, 1, 2, 3, 5, 8, 20]);
  const entries: GenEntry[] = [];
  const used = new Set<string>();
  for (let i = 0; i < n; i++) {
    let name = r.chance(0.85) ? r.pick(NAMES.slice(0, 11)) : r.pick(NAMES);
    if (r.chance(0.3)) name = `p${i}/${name}`;
    if (used.has(name) && r.chance(0.9)) name = `f${i}.go`;
    used.add(name);
    const full = r.chance(0.97) ? prefix + name : `other@v1.0.0/${name}`;
    const isDir = full.endsWith('/');
    entries.push(entry(Buffer.from(full), isDir ? Buffer.alloc(0) : content(r), r));
  }
  return { mod, entries, comment: Buffer.alloc(0), prepend: Buffer.alloc(0) };
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n & 0xffff);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** Writes the zip exactly as described. */
export function serialize(z: GenZip): Buffer {
  const parts: Buffer[] = [z.prepend];
  let pos = z.prepend.length;
  const offsets: number[] = [];
  for (const e of z.entries) {
    offsets.push(pos);
    const l = e.local;
    const head = Buffer.concat([
      u32(0x04034b50),
      u16(20),
      u16(l.flags),
      u16(l.method),
      u16(0),
      u16(0x5021),
      u32(l.crc),
      u32(l.csize),
      u32(l.usize),
      u16(l.name.length),
      u16(l.extra.length),
      l.name,
      l.extra,
    ]);
    parts.push(head, e.stored);
    pos += head.length + e.stored.length;
    if (e.descriptor) {
      const d = e.descriptor;
      const desc = Buffer.concat([
        d.signed ? u32(0x08074b50) : Buffer.alloc(0),
        u32(d.crc),
        u32(d.csize),
        u32(d.usize),
      ]);
      parts.push(desc);
      pos += desc.length;
    }
    if (e.gapAfter) {
      parts.push(e.gapAfter);
      pos += e.gapAfter.length;
    }
  }
  const cdOffset = pos;
  const order = z.order ?? z.entries.map((_, i) => i);
  for (const [k, i] of order.entries()) {
    const e = z.entries[i]!;
    let off = offsets[i]! - (z.offsetShift ?? 0);
    if (z.overlap === k && k > 0) off = offsets[order[k - 1]!]! - (z.offsetShift ?? 0);
    const head = Buffer.concat([
      u32(0x02014b50),
      u16(0x0314),
      u16(20),
      u16(e.flags),
      u16(e.method),
      u16(0),
      u16(0x5021),
      u32(e.crc),
      u32(e.csize),
      u32(e.usize),
      u16(e.name.length),
      u16(e.extra.length),
      u16(e.comment.length),
      u16(0),
      u16(0),
      u32(e.external),
      u32(off),
      e.name,
      e.extra,
      e.comment,
    ]);
    parts.push(head);
    pos += head.length;
  }
  const cdSize = pos - cdOffset;
  const realOffset = cdOffset - (z.offsetShift ?? 0);
  let records = order.length;
  let size32 = cdSize;
  let off32 = realOffset;
  if (z.zip64) {
    const z64 = z.zip64;
    const at = pos - (z.offsetShift ?? 0);
    parts.push(
      u32(0x06064b50),
      u64(z64.recordSize ?? 44),
      u16(45),
      u16(45),
      u32(0),
      u32(0),
      u64(z64.records ?? records),
      u64(z64.records ?? records),
      u64(z64.cdSize ?? cdSize),
      u64(z64.cdOffset ?? realOffset),
      u32(0x07064b50),
      u32(0),
      u64(at),
      u32(1),
    );
    if (z64.saturate) [records, size32, off32] = [0xffff, 0xffffffff, 0xffffffff];
  }
  const end = z.end ?? {};
  parts.push(
    u32(0x06054b50),
    u16(end.disk ?? 0),
    u16(0),
    u16(end.here ?? end.records ?? records),
    u16(end.records ?? records),
    u32(end.cdSize ?? size32),
    u32(end.cdOffset ?? off32),
    u16(z.comment.length),
    z.comment,
  );
  if (z.appendBytes) parts.push(z.appendBytes);
  return Buffer.concat(parts);
}
