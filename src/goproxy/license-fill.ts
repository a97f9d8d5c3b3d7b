/**
 * Licenses for zips cached before license scanning existed: their evidence
 * has no licenses. On the next hit the cached bytes are copied to the spool,
 * checked against the evidence's sha256 and size (the bytes that were
 * verified when they were fetched), scanned, and the evidence is rewritten
 * with the licenses, so the decision and its audit record carry them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { verifyModuleZip } from '../integrity/zip.js';
import { scanZipLicenses } from '../license/scan.js';
import type { BlobStore } from '../storage/types.js';
import type { StoredEvidence } from './evidence.js';
import { spool } from './spool.js';

export interface FillDeps {
  store: BlobStore;
  spoolDir: string;
  maxZipBytes: number;
  write(ev: StoredEvidence): Promise<void>;
}

/**
 * The evidence with licenses, or a string naming why the cached bytes are not
 * the verified ones (the caller treats the entry as tampered). `body`, when
 * given, was already checked against the evidence.
 */
export async function fillLicenses(
  d: FillDeps,
  key: string,
  ev: StoredEvidence,
  body?: Buffer,
): Promise<StoredEvidence | string | null> {
  await mkdir(d.spoolDir, { recursive: true });
  const tmp = path.join(d.spoolDir, `${randomBytes(8).toString('hex')}.licenses.zip`);
  try {
    if (body) await writeFile(tmp, body, { flag: 'wx' });
    else {
      const source = await d.store.openRead(key);
      if (!source) return null;
      const got = await spool(source, tmp, d.maxZipBytes, `cached ${key}`);
      if (got.sha256 !== ev.sha256 || got.size !== ev.size)
        return 'does not hash to the sha256 of its evidence';
    }
    const licenses = await scanZipLicenses(tmp, ev.module, ev.version);
    const zip = ev.zip ?? (await verifyModuleZip(tmp, { path: ev.module, version: ev.version }));
    const next: StoredEvidence = {
      ...ev,
      zip: { fileCount: zip.fileCount, uncompressedSize: zip.uncompressedSize, licenses },
    };
    await d.write(next);
    return next;
  } finally {
    await rm(tmp, { force: true });
  }
}
