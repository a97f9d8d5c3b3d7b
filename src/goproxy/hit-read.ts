/**
 * The one place where stored bytes are checked on their way out. A whole read
 * is hashed as it streams and fails before its last bytes on a mismatch; a
 * range is served only after the whole file was hashed. Where the store keeps
 * a local file, a file that hashed right is remembered by its stamp (device,
 * inode, size, mtime, ctime, as opened) in a bounded LRU, and later reads of
 * the same, unchanged file skip the hash; any change of the stamp means
 * hashing again (docs/security-model.md says what this catches and what not).
 * Every answer's last bytes also wait for its release (the durable decision
 * record).
 */
import { Readable } from 'node:stream';
import { ModgateError } from '../errors.js';
import { ByteLru } from '../storage/lru.js';
import type { BlobStore, LocalBlob } from '../storage/types.js';
import type { StoredEvidence } from './evidence.js';
import { checkWhole, holdLast, tampered, verifyingStream, type Release } from './hit-stream.js';

export interface StampOptions {
  /** Files remembered at most (0: hash every read). */
  entries: number;
  /**
   * A file whose change time is not this much older than the moment it was
   * opened is not remembered: file times tick coarsely (a kernel tick), and a
   * write within the same tick as the one that stored the file would leave
   * the stamp as it was.
   */
  marginMs: number;
}

export const DEFAULT_STAMPS: StampOptions = { entries: 65_536, marginMs: 2_000 };

type Range = { start: number; end: number };

export class HitReader {
  private readonly stamps: ByteLru<string>;
  /** Reads that hashed the bytes, and reads that a remembered stamp vouched for. */
  readonly counts = { hashed: 0, stamped: 0 };

  constructor(
    private readonly store: BlobStore,
    private readonly o: StampOptions = DEFAULT_STAMPS,
  ) {
    this.stamps = new ByteLru(o.entries);
  }

  forget(key: string): void {
    this.stamps.delete(key);
  }

  async open(
    key: string,
    ev: StoredEvidence,
    onMismatch: (reason: string) => Promise<void>,
    body: Buffer | undefined,
    range: Range | undefined,
    release: Release,
  ): Promise<Readable> {
    if (body)
      return holdLast(
        Readable.from([range ? body.subarray(range.start, range.end + 1) : body]),
        release,
      );
    const local =
      this.o.entries > 0 && this.store.openLocal ? await this.store.openLocal(key) : null;
    if (local) {
      if (this.stamps.get(key) === `${local.stamp}|${ev.sha256}`) {
        this.counts.stamped++;
        return holdLast(local.read(range), release);
      }
      if (!range) {
        this.counts.hashed++;
        const remember = () => this.remember(key, local, ev);
        return verifyingStream(local.read(), ev, onMismatch, release, remember);
      }
      await local.close();
    }
    this.counts.hashed++;
    const source = await this.store.openRead(key);
    if (!source) throw vanished(key);
    if (!range) return verifyingStream(source, ev, onMismatch, release);
    const reason = await checkWhole(source, ev);
    if (reason) {
      await onMismatch(reason);
      throw tampered(reason);
    }
    const part = await this.store.openRead(key, range);
    if (!part) throw vanished(key);
    return holdLast(part, release);
  }

  /** After a whole read hashed right: remember the file if it is as it was opened, and old enough. */
  private async remember(key: string, local: LocalBlob, ev: StoredEvidence): Promise<void> {
    if (local.size !== ev.size || local.ctimeMs > local.openedAtMs - this.o.marginMs) return;
    if ((await local.restamp()) !== local.stamp) return;
    this.stamps.set(key, `${local.stamp}|${ev.sha256}`, 1);
  }
}

function vanished(key: string): ModgateError {
  return new ModgateError('STORAGE_UNAVAILABLE', `cached ${key} vanished`);
}
