/**
 * The S3 blob store (AWS S3 or any S3-compatible server). Large blobs stream
 * both ways: put() is a multipart upload (@aws-sdk/lib-storage), whose object
 * appears only on CompleteMultipartUpload, and a failed or aborted upload is
 * aborted so that none of its parts stays; reads are streamed or ranged
 * GetObject. At most queueSize x partSize bytes of one upload are in memory.
 *
 * Credentials come from the standard AWS chain (environment, shared config
 * and profile, web identity, container and instance roles), never from
 * modgate's config file.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { checkKey, checkPrefix, storageError } from './keys.js';
import { exactly } from './sized.js';
import type { BlobInfo, BlobStore, ByteRange, PutOptions } from './types.js';

export interface S3StoreOptions {
  bucket: string;
  /** Prepended to every key ('' or ending in '/'), so that one bucket can hold several stores. */
  prefix: string;
  region?: string;
  endpoint?: string;
  forcePathStyle: boolean;
  /** Multipart part size (at least 5 MiB, as S3 requires). */
  partSizeBytes: number;
  /** Parts of one upload sent at once. */
  uploadConcurrency: number;
  /** Tests only: fixed credentials instead of the AWS chain. */
  credentials?: S3ClientConfig['credentials'];
}

const MIN_PART = 5 * 1024 * 1024;

export class S3BlobStore implements BlobStore {
  readonly engine = 's3';
  private readonly client: S3Client;
  private readonly prefix: string;

  constructor(private readonly o: S3StoreOptions) {
    this.prefix = o.prefix === '' || o.prefix.endsWith('/') ? o.prefix : `${o.prefix}/`;
    if (this.prefix) checkPrefix(this.prefix);
    this.client = new S3Client({
      ...(o.region ? { region: o.region } : {}),
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      ...(o.credentials ? { credentials: o.credentials } : {}),
      forcePathStyle: o.forcePathStyle,
      // Integrity is modgate's own (sha256 against sealed evidence on every read);
      // optional checksums only limit which S3-compatible servers work.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
      maxAttempts: 3,
    });
  }

  /** "s3://bucket/prefix" for logs and the start-up summary. */
  get location(): string {
    return `s3://${this.o.bucket}/${this.prefix}`;
  }

  private k(key: string): string {
    return this.prefix + checkKey(key);
  }

  async stat(key: string): Promise<BlobInfo | null> {
    const Key = this.k(key);
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.o.bucket, Key }));
      return { size: r.ContentLength ?? 0, mtimeMs: r.LastModified?.getTime() ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError(this.engine, err, key);
    }
  }

  async getBytes(key: string): Promise<Buffer | null> {
    const body = await this.openRead(key);
    if (!body) return null;
    const parts: Buffer[] = [];
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) parts.push(chunk);
    } catch (err) {
      throw storageError(this.engine, err, key);
    }
    return Buffer.concat(parts);
  }

  async openRead(key: string, range?: ByteRange): Promise<Readable | null> {
    const Key = this.k(key);
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.o.bucket,
          Key,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      return r.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError(this.engine, err, key);
    }
  }

  async putBytes(key: string, data: Buffer | string): Promise<void> {
    const Key = this.k(key);
    const Body = Buffer.from(data);
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.o.bucket, Key, Body, ContentLength: Body.length }),
      );
    } catch (err) {
      throw storageError(this.engine, err, key);
    }
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<void> {
    const Key = this.k(key);
    const source = opts.size === undefined ? body : body.pipe(exactly(opts.size, key));
    if (source !== body) body.on('error', (err) => source.destroy(err));
    // An abort fails the body, so that Upload aborts the multipart upload before rejecting.
    const onAbort = () => source.destroy(opts.signal?.reason as Error);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      opts.signal?.throwIfAborted();
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.o.bucket, Key, Body: source },
        partSize: Math.max(MIN_PART, this.o.partSizeBytes),
        queueSize: this.o.uploadConcurrency,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (err) {
      body.destroy();
      throw storageError(this.engine, err, key);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.k(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw storageError(this.engine, err, key);
    }
  }

  async list(prefix: string, limit = 10_000): Promise<string[]> {
    checkPrefix(prefix);
    const out: string[] = [];
    let token: string | undefined;
    try {
      // Bounded: each page adds keys or ends the listing.
      do {
        const r = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.o.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: Math.min(1000, limit - out.length),
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
        for (const c of r.Contents ?? []) if (c.Key) out.push(c.Key.slice(this.prefix.length));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token && out.length < limit);
    } catch (err) {
      throw storageError(this.engine, err, prefix || '(all)');
    }
    return out.sort().slice(0, limit);
  }

  async check(): Promise<void> {
    await this.putBytes('.readyz', String(Date.now()));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  // A missing bucket is a broken store, not an absent blob.
  if (e.name === 'NoSuchBucket') return false;
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}
