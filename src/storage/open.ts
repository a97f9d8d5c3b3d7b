import path from 'node:path';
import type { ModgateConfig } from '../config/types.js';
import { ModgateError } from '../errors.js';
import { CachedBlobStore } from './cached.js';
import { FsBlobStore } from './fs.js';
import { S3BlobStore } from './s3.js';
import type { BlobStore } from './types.js';

export interface OpenedStore {
  store: BlobStore;
  /** Where the blobs live, for the start-up summary ("<dir>" or "s3://bucket/prefix"). */
  location: string;
}

/**
 * The blob store the config names: fs under <dataDir>/store, or S3 behind a
 * local disk cache. What a crash left half-written locally is removed first.
 */
export async function openBlobStore(
  config: ModgateConfig,
  overrides: Partial<Pick<ConstructorParameters<typeof S3BlobStore>[0], 'credentials'>> = {},
  /** A worker process's own temp folder under the store's (server.workers); default the store's. */
  tempName?: string,
): Promise<OpenedStore> {
  if (config.storage.kind === 'fs') {
    const fs = new FsBlobStore(path.join(config.dataDir, 'store'), tempName);
    await fs.clearTemp();
    return { store: fs, location: fs.root };
  }
  const o = config.storage.s3;
  if (!o.bucket)
    throw new ModgateError(
      'CONFIG_INVALID',
      'storage.s3.bucket is required with storage.kind "s3" (MODGATE_STORAGE__S3__BUCKET)',
    );
  const s3 = new S3BlobStore({
    bucket: o.bucket,
    prefix: o.prefix,
    ...(o.region ? { region: o.region } : {}),
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    forcePathStyle: o.forcePathStyle,
    partSizeBytes: o.partSizeBytes,
    uploadConcurrency: o.uploadConcurrency,
    ...overrides,
  });
  const { maxBytes, dir } = config.storage.diskCache;
  if (maxBytes === 0) return { store: s3, location: s3.location };
  const cached = new CachedBlobStore(s3, {
    dir: dir ?? path.join(config.dataDir, 's3-cache'),
    maxBytes,
  });
  await cached.init();
  return { store: cached, location: s3.location };
}
