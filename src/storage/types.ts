import type { Readable } from 'node:stream';

/**
 * A blob store for immutable artifacts, their evidence, quarantine and small
 * mutable state. It knows keys and bytes only, nothing of modules, and nothing
 * of where the bytes live: fs, S3 and memory implement the same port. Keys are
 * '/'-separated relative paths of safe characters (checkKey); every
 * implementation refuses anything else with STORAGE_BAD_KEY.
 *
 * Contract (test/storage/contract.ts, which every implementation passes):
 * - a blob becomes visible whole, or not at all: putBytes and put() publish
 *   only complete content, and a failed or aborted put leaves nothing visible;
 * - replacing is atomic: concurrent writers and readers see one whole version;
 * - read streams honour inclusive byte ranges and never hold a whole large
 *   blob in memory;
 * - engine failures are ModgateError STORAGE_UNAVAILABLE (503), never a raw error.
 */
export interface BlobInfo {
  size: number;
  mtimeMs: number;
}

/** Inclusive byte range, as in an HTTP Range header. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * A blob held in a local file, opened (see local-file.ts). The stamp names
 * the file as opened: "dev:ino:size:mtimeNs:ctimeNs". Exactly one of read()
 * or close() is called.
 */
export interface LocalBlob {
  readonly stamp: string;
  readonly size: number;
  /** The file's change time, and when it was opened (wall clock, ms). */
  readonly ctimeMs: number;
  readonly openedAtMs: number;
  /** Reads the opened file (not the path again); the handle closes at the end. */
  read(range?: ByteRange): Readable;
  /** The stamp of the file the path names now; null when it is gone. */
  restamp(): Promise<string | null>;
  close(): Promise<void>;
}

export interface PutOptions {
  /** Aborting rejects the put and leaves nothing visible under the key. */
  signal?: AbortSignal;
  /** The body's length when known (lets S3 pick a single request for small bodies). */
  size?: number;
}

export interface BlobStore {
  /** Which engine this is ("fs", "s3", "memory"), for /readyz and logs. */
  readonly engine: string;
  stat(key: string): Promise<BlobInfo | null>;
  /** Small blobs only (evidence, metadata, go.mod, info); null when absent. */
  getBytes(key: string): Promise<Buffer | null>;
  /** Streams a blob (or an inclusive range of it); null when absent. */
  openRead(key: string, range?: ByteRange): Promise<Readable | null>;
  /**
   * The blob as an opened local file, when this store keeps one (fs, the disk
   * cache in front of S3); null when absent or not local. Lets a caller
   * remember a verified file by its stamp instead of hashing it on every read.
   */
  openLocal?(key: string): Promise<LocalBlob | null>;
  /** Writes a small blob whole, replacing any previous one atomically. */
  putBytes(key: string, data: Buffer | string): Promise<void>;
  /**
   * Streams `body` into the store; the blob becomes visible only once the
   * whole body is committed. If the body errors or the signal aborts, the put
   * rejects and neither a partial blob nor a temp object is visible.
   */
  put(key: string, body: Readable, opts?: PutOptions): Promise<void>;
  /**
   * Moves a local file into the store (a rename where the engine can), with
   * put()'s guarantees; the file is consumed, stored or removed. Optional: a
   * caller without it streams the file through put().
   */
  putFile?(key: string, file: string, opts?: PutOptions): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys under a prefix (sorted, at most `limit`), for maintenance and tests. */
  list(prefix: string, limit?: number): Promise<string[]>;
  /** Readiness probe: can the store be written? Throws STORAGE_UNAVAILABLE if not. */
  check(): Promise<void>;
  /** Settles once the background writes started so far (e.g. local copies of remote objects) are done. */
  settled?(): Promise<void>;
  /** Releases connections and handles. */
  close?(): Promise<void>;
}
