/**
 * Mutations of generated zips: each names itself, so that a disagreement with
 * Go says what kind of zip caused it.
 */
import { crc32, deflateRawSync } from 'node:zlib';
import { entry, randomZip, serialize, type GenEntry, type GenZip, type Rng } from './zipgen.js';

type Mutation = (z: GenZip, r: Rng) => boolean;

const some = (z: GenZip, r: Rng): GenEntry | undefined =>
  z.entries.length ? r.pick(z.entries) : undefined;
const withEntry =
  (f: (e: GenEntry, r: Rng, z: GenZip) => void): Mutation =>
  (z, r) => {
    const e = some(z, r);
    if (!e) return false;
    f(e, r, z);
    return true;
  };
const bump = (r: Rng, v: number): number =>
  r.chance(0.5) ? v + 1 + r.int(3) : Math.max(0, v - 1 - r.int(3));

/** Structural mutations, applied before serializing. */
export const STRUCT: Record<string, Mutation> = {
  'central-crc': withEntry(
    (e, r) => (e.crc = r.chance(0.3) ? 0 : (e.crc ^ (1 << r.int(32))) >>> 0),
  ),
  'central-usize': withEntry((e, r) => (e.usize = bump(r, e.usize))),
  'central-csize': withEntry((e, r) => (e.csize = bump(r, e.csize))),
  'central-method': withEntry((e, r) => (e.method = r.pick([0, 8, 12, 14, 99]))),
  'central-flags': withEntry((e, r) => (e.flags ^= 1 << r.pick([0, 1, 3, 6, 11, 13]))),
  'local-name': withEntry((e, r) => {
    const n = Buffer.from(e.name);
    const k = r.int(n.length);
    if (n.length) n[k] = n[k]! ^ 0x20;
    e.local.name = n;
  }),
  'local-method': withEntry((e) => (e.local.method = e.local.method === 8 ? 0 : 8)),
  'local-flags': withEntry((e, r) => (e.local.flags ^= 1 << r.pick([0, 3, 11]))),
  'local-sizes': withEntry((e, r) => {
    const k = r.pick(['crc', 'csize', 'usize'] as const);
    e.local[k] = k === 'crc' ? (e.local.crc ^ 1) >>> 0 : bump(r, e.local[k]);
  }),
  'local-sizes-set-with-descriptor': withEntry((e) => {
    if (!e.descriptor) return;
    Object.assign(e.local, { crc: e.crc, csize: e.csize, usize: e.usize });
  }),
  'local-extra': withEntry(
    (e, r) =>
      (e.local.extra = r.chance(0.5)
        ? r.bytes(r.int(12))
        : Buffer.from([0x55, 0x54, 5, 0, 1, 0, 0, 0, 0])),
  ),
  'descriptor-crc': withEntry(
    (e) => e.descriptor && (e.descriptor.crc = (e.descriptor.crc ^ 4) >>> 0),
  ),
  'descriptor-sizes': withEntry((e, r) => {
    if (!e.descriptor) return;
    if (r.chance(0.5)) e.descriptor.csize = bump(r, e.descriptor.csize);
    else e.descriptor.usize = bump(r, e.descriptor.usize);
  }),
  'descriptor-unsigned': withEntry(
    (e) => e.descriptor && (e.descriptor.signed = !e.descriptor.signed),
  ),
  'descriptor-dropped': withEntry((e) => {
    if (e.descriptor) delete e.descriptor;
    else e.flags |= 8;
  }),
  'descriptor-on-stored': withEntry((e) => {
    if (e.method !== 0) return;
    e.flags |= 8;
    e.local = { ...e.local, flags: e.flags, crc: 0, csize: 0, usize: 0 };
    e.descriptor = { signed: true, crc: e.crc, csize: e.csize, usize: e.usize };
  }),
  'content-tampered': withEntry((e, r) => {
    if (!e.stored.length) return;
    e.stored = Buffer.from(e.stored);
    const k = r.int(e.stored.length);
    e.stored[k] = e.stored[k]! ^ (1 << r.int(8));
  }),
  'deflate-trailing': withEntry((e, r) => {
    if (e.method !== 8) return;
    e.stored = Buffer.concat([e.stored, r.bytes(1 + r.int(4))]);
    e.csize = e.local.csize = e.stored.length;
    if (e.descriptor) e.descriptor.csize = e.stored.length;
    if (e.flags & 8) e.local.csize = 0;
  }),
  'deflate-truncated': withEntry((e) => {
    if (e.method !== 8 || e.stored.length < 2) return;
    e.stored = e.stored.subarray(0, e.stored.length - 1);
    e.csize = e.stored.length;
    if (!(e.flags & 8)) e.local.csize = e.stored.length;
    if (e.descriptor) e.descriptor.csize = e.stored.length;
  }),
  'size-lie-consistent': withEntry((e, r) => {
    const v = r.chance(0.5) ? Math.max(0, e.usize - 1) : e.usize + 1;
    e.usize = v;
    if (!(e.flags & 8)) e.local.usize = v;
    if (e.descriptor) e.descriptor.usize = v;
  }),
  'bomb-declared-small': (z, r) => {
    const name = Buffer.from(`${z.mod.path}@${z.mod.version}/${r.pick(['go.mod', 'big.go'])}`);
    const e = entry(name, Buffer.alloc(200_000, r.pick(['a', '\n'])), r);
    e.usize = e.local.usize = r.int(100);
    if (e.descriptor) {
      e.descriptor.usize = e.usize;
      e.local.usize = 0;
    }
    z.entries.push(e);
    return true;
  },
  'directory-with-data': withEntry((e, r) => {
    e.name = e.local.name = Buffer.concat([
      e.name.subarray(0, e.name.length - 1),
      Buffer.from('dd/'),
    ]);
    const data = r.chance(0.5) ? Buffer.alloc(0) : Buffer.from('x');
    e.data = data;
    e.stored = r.chance(0.5) ? data : deflateRawSync(data);
    e.method = e.local.method = e.stored === data ? 0 : 8;
    e.crc = crc32(data) >>> 0;
    e.csize = e.stored.length;
    e.usize = data.length;
    Object.assign(e.local, { crc: e.crc, csize: e.csize, usize: e.usize });
  }),
  duplicate: (z, r) => {
    const e = some(z, r);
    if (!e) return false;
    z.entries.push({ ...e, local: { ...e.local } });
    return true;
  },
  'gap-between': withEntry((e, r) => (e.gapAfter = r.bytes(1 + r.int(8)))),
  overlap: (z, r) => {
    if (z.entries.length < 2) return false;
    z.overlap = 1 + r.int(z.entries.length - 1);
    return true;
  },
  'central-order': (z, r) => {
    if (z.entries.length < 2) return false;
    const order = z.entries.map((_, i) => i);
    const i = r.int(order.length - 1);
    [order[i], order[i + 1]] = [order[i + 1]!, order[i]!];
    z.order = order;
    return true;
  },
  'central-repeated': (z, r) => {
    if (!z.entries.length) return false;
    const order = z.entries.map((_, i) => i);
    order.push(r.int(order.length));
    z.order = order;
    return true;
  },
  'central-missing': (z) => {
    if (!z.entries.length) return false;
    z.order = z.entries.map((_, i) => i).slice(0, -1);
    return true;
  },
  'end-records': (z, r) => {
    const n = z.order?.length ?? z.entries.length;
    z.end = { ...z.end, records: r.pick([n + 1, Math.max(0, n - 1), n + 65536, 0]) };
    return true;
  },
  'end-here': (z, r) => ((z.end = { ...z.end, here: r.int(3) }), true),
  'end-disk': (z) => ((z.end = { ...z.end, disk: 1 }), true),
  'end-cdsize': (z, r) => ((z.end = { ...z.end, cdSize: r.int(400) }), true),
  'end-cdoffset': (z, r) => ((z.end = { ...z.end, cdOffset: r.int(400) }), true),
  'end-saturated': (z, r) => (
    (z.end = {
      ...z.end,
      ...r.pick([
        { records: 0xffff },
        { cdSize: 0xffffffff },
        { cdOffset: 0xffffffff },
        { cdSize: 0xffff },
      ]),
    }),
    true
  ),
  comment: (z, r) => ((z.comment = Buffer.from(r.pick(['hello', '', 'x'.repeat(300)]))), true),
  'comment-with-end': (z, r) => {
    const fake = Buffer.alloc(22);
    fake.writeUInt32LE(0x06054b50);
    fake.writeUInt16LE(r.int(2), 20);
    z.comment = Buffer.concat([
      Buffer.from('c'),
      fake,
      r.chance(0.5) ? Buffer.alloc(0) : Buffer.from('z'),
    ]);
    return true;
  },
  'zip64-valid': (z) => ((z.zip64 = { saturate: true }), true),
  'zip64-unsaturated': (z) => ((z.zip64 = { saturate: false }), true),
  'zip64-inconsistent': (z, r) => {
    const n = z.order?.length ?? z.entries.length;
    z.zip64 = {
      saturate: r.chance(0.7),
      ...r.pick([{ records: n + 1 }, { cdSize: 3 }, { cdOffset: 0 }, { recordSize: 52 }]),
    };
    return true;
  },
  'zip64-partly-saturated': (z, r) => {
    z.zip64 = { saturate: false };
    z.end = {
      ...z.end,
      ...r.pick([{ records: 0xffff }, { cdSize: 0xffffffff }, { cdOffset: 0xffffffff }]),
    };
    return true;
  },
  'zip64-extra': withEntry((e, r) => {
    const sat = r.chance(0.5);
    if (sat) e.usize = 0xffffffff;
    const body = Buffer.alloc(sat ? 8 : 8 * r.int(3));
    if (body.length) body.writeBigUInt64LE(BigInt(sat ? e.data.length : 0xffffffff + r.int(2)));
    e.extra = Buffer.concat([Buffer.from([1, 0, body.length, 0]), body]);
  }),
  'central-extra-malformed': withEntry(
    (e, r) => (e.extra = r.chance(0.5) ? r.bytes(3) : Buffer.from([0x0a, 0, 9, 0, 1])),
  ),
  'central-comment': withEntry((e) => (e.comment = Buffer.from('file comment'))),
  'bad-utf8-name': withEntry((e) => {
    e.name = e.local.name = Buffer.concat([e.name, Buffer.from([0xff])]);
  }),
  'empty-name': withEntry((e) => (e.name = e.local.name = Buffer.alloc(0))),
};

/** Byte-level mutations, applied to the serialized zip. */
export const BYTES: Record<string, (b: Buffer, r: Rng) => Buffer> = {
  truncate: (b, r) => b.subarray(0, r.int(b.length)),
  'flip-byte': (b, r) => {
    const o = Buffer.from(b);
    for (let k = 1 + r.int(3); k > 0 && o.length; k--) {
      const i = r.int(o.length);
      o[i] = o[i]! ^ (1 << r.int(8));
    }
    return o;
  },
  'set-byte': (b, r) => {
    const o = Buffer.from(b);
    if (o.length) o[r.int(o.length)] = r.pick([0, 0xff, 0x50, 0x4b]);
    return o;
  },
  append: (b, r) =>
    Buffer.concat([b, r.chance(0.5) ? r.bytes(1 + r.int(40)) : Buffer.alloc(1 + r.int(4))]),
  prepend: (b, r) => Buffer.concat([r.bytes(1 + r.int(40)), b]),
  'second-directory': (b) => {
    // The whole zip again after itself: two central directories and two end records.
    return Buffer.concat([b, b]);
  },
};

export interface Case {
  mod: { path: string; version: string };
  zip: Buffer;
  kinds: string[];
}

/** One case: a random zip, with 0 to 3 mutations. */
export function makeCase(r: Rng): Case {
  const z = randomZip(r);
  const kinds: string[] = [];
  const nStruct = r.chance(0.35) ? 0 : 1 + r.int(2);
  const names = Object.keys(STRUCT);
  for (let k = 0; k < nStruct; k++) {
    const m = r.pick(names);
    if (STRUCT[m]!(z, r)) kinds.push(m);
  }
  if (r.chance(0.1)) {
    // A prepend whose offsets are shifted to match: Go's base-offset rule applies.
    z.prepend = r.bytes(1 + r.int(30));
    if (r.chance(0.7)) z.offsetShift = z.prepend.length;
    kinds.push(z.offsetShift ? 'prepend-shifted' : 'prepend-unshifted');
  }
  let zip = serialize(z);
  if (r.chance(0.2)) {
    const m = r.pick(Object.keys(BYTES));
    zip = BYTES[m]!(zip, r);
    kinds.push(m);
  }
  return { mod: z.mod, zip, kinds: kinds.length ? kinds : ['none'] };
}
