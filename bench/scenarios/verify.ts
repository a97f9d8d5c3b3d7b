import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { verifyModuleZip } from '../../src/integrity/zip.js';
import { writeBigModule } from '../bigzip.js';
import type { Result } from '../report.js';

const MiB = 1024 * 1024;

/** The machine's limit: raw inflate (1 MiB chunks) plus sha256 of every entry, located through the central directory. */
function rawLimit(zip: Buffer): { bytes: number; seconds: number } {
  const t0 = performance.now();
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(eocd + 10);
  let cd = zip.readUInt32LE(eocd + 16);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const method = zip.readUInt16LE(cd + 10);
    const csize = zip.readUInt32LE(cd + 20);
    const local = zip.readUInt32LE(cd + 42);
    cd += 46 + zip.readUInt16LE(cd + 28) + zip.readUInt16LE(cd + 30) + zip.readUInt16LE(cd + 32);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + csize);
    const out = method === 8 ? inflateRawSync(data, { chunkSize: MiB }) : data;
    createHash('sha256').update(out).digest();
    bytes += out.length;
  }
  return { bytes, seconds: (performance.now() - t0) / 1000 };
}

/** Zip verification throughput against this machine's inflate+sha256 limit, in the same run. */
export async function verifyThroughput(sizeMiB = 200): Promise<Result[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-bench-verify-'));
  try {
    const file = await writeBigModule(dir, 'example.com/v', 'v1.0.0', sizeMiB * MiB);
    const zip = await readFile(file);
    // Best of three runs each, alternating, so both see the same warm page cache.
    let raw = 0;
    let ours = 0;
    const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
    for (let run = 0; run < 3; run++) {
      gc();
      const t0 = performance.now();
      const report = await verifyModuleZip(file, { path: 'example.com/v', version: 'v1.0.0' });
      ours = Math.max(ours, report.uncompressedSize / ((performance.now() - t0) / 1000) / 1e6);
      gc();
      const limit = rawLimit(zip);
      raw = Math.max(raw, limit.bytes / limit.seconds / 1e6);
    }
    return [
      {
        id: 'verify.ratio',
        label: 'zip verification / raw inflate+sha256',
        value: ours / raw,
        unit: 'x',
        target: 0.7,
        better: 'higher',
        note: `verify ${ours.toFixed(0)} MB/s, raw limit ${raw.toFixed(0)} MB/s (uncompressed)`,
      },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
