import type { Readable } from 'node:stream';

/**
 * A blob store for immutable artifacts and small mutable state. It knows keys
 * and bytes only, nothing of modules. Keys are '/'-separated relative paths
 * made of safe characters; implementations must reject anything else.
 *
 * Contract (test/storage/contract.ts, which every backend must pass):
 * - a blob becomes visible whole, or not at all (no half-written reads);
 * - putFile and putBytes replace atomically; concurrent readers see old or new;
 * - read streams honour inclusive byte ranges.
 */
export interface BlobInfo {
  size: number;
  mtimeMs: number;
  /** A local file path for zero-copy serving, when the backend has one. */
  localPath?: string;
}

export interface BlobStore {
  stat(key: string): Promise<BlobInfo | null>;
  /** Small blobs only (metadata, go.mod, info); returns null when absent. */
  getBytes(key: string): Promise<Buffer | null>;
  createReadStream(key: string, range?: { start: number; end: number }): Promise<Readable | null>;
  putBytes(key: string, data: Buffer | string): Promise<void>;
  /** Moves (or uploads) a finished local temp file into the store under key. */
  putFile(key: string, localPath: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** A writable local folder for temp files that putFile can take cheaply. */
  tempDir(): Promise<string>;
  /** Readiness probe: can we write? */
  check(): Promise<void>;
}
