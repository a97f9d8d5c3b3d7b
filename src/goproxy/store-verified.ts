import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { ModgateError } from '../errors.js';
import type { BlobStore } from '../storage/types.js';
import type { StoredEvidence } from './evidence.js';
import { matches, sameAsVerified } from './hit-stream.js';
import { readSmall } from './spool.js';

export interface VerifiedSpool {
  key: string;
  /** The spool file the checks read; a store with putFile consumes it. */
  tmp: string;
  evidence: StoredEvidence;
  signal: AbortSignal;
}

/**
 * Puts a verified spool into the store. What memory keeps (up to
 * `maxItemBytes`, and every .info and .mod) is read back whole, checked
 * against the evidence and written as bytes, which are returned; a larger
 * zip is moved into the store where it can be (putFile), else streamed
 * through a check of its sha256. Either way a byte changed after
 * verification is not served: hits check the file against the evidence.
 */
export async function storeVerified(
  store: BlobStore,
  maxItemBytes: number,
  { key, tmp, evidence, signal }: VerifiedSpool,
): Promise<Buffer | undefined> {
  const { size } = evidence;
  if (evidence.kind !== 'zip' || size <= maxItemBytes) {
    const body = await readSmall(tmp);
    // The spool may only be read back as the bytes that were verified.
    if (!matches(body, evidence))
      throw new ModgateError(
        'STORAGE_UNAVAILABLE',
        `the spooled ${key} changed after it was verified`,
      );
    await store.putBytes(key, body);
    return body;
  }
  if (store.putFile) {
    await store.putFile(key, tmp, { size, signal });
    return undefined;
  }
  const source = createReadStream(tmp);
  const guarded = source.pipe(sameAsVerified(evidence));
  source.on('error', (err) => guarded.destroy(err));
  // A store may answer without reading (the object is there already): the
  // spool file is closed either way, not left to the collector.
  await store.put(key, guarded, { size, signal }).finally(() => source.destroy());
  return undefined;
}

/** Awaits both writes (neither is left running), then throws the first failure or gives the second's value. */
export async function both<T>(first: Promise<unknown>, second: Promise<T>): Promise<T> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return b.value;
}

/** Keeps a spool that failed its checks under quarantine/ (best effort); returns its key. */
export async function quarantineSpool(store: BlobStore, tmp: string, key: string): Promise<string> {
  const qkey = quarantineKey(key);
  const source = createReadStream(tmp);
  // The store may answer without reading it (the same bytes are quarantined
  // already); the spool is then removed, and the stream's late open must not
  // become an unhandled 'error' that stops the process.
  source.on('error', () => undefined);
  try {
    await store.put(qkey, source);
  } catch {
    // Quarantine is best effort: the refusal stands either way.
  } finally {
    source.destroy();
  }
  return qkey;
}

/** A fresh key under quarantine/ for the bytes of `key`. */
export function quarantineKey(key: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return `quarantine/${stamp}-${randomBytes(4).toString('hex')}/${path.basename(key)}`;
}
