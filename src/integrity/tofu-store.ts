import type { BlobStore } from '../storage/types.js';
import type { TofuLedger } from './checksums.js';
import { createHash } from 'node:crypto';

/** A TOFU ledger kept in the blob store, one small JSON blob per module version. */
export class StoreTofuLedger implements TofuLedger {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly store: BlobStore) {}

  private keyOf(key: string): string {
    return `tofu/${createHash('sha256').update(key).digest('hex')}.json`;
  }

  async get(key: string): Promise<{ h1: string; firstSeen: string } | null> {
    const raw = await this.store.getBytes(this.keyOf(key));
    return raw ? (JSON.parse(raw.toString('utf8')) as { h1: string; firstSeen: string }) : null;
  }

  remember(key: string, h1: string): Promise<{ h1: string; firstSeen: string }> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      const seen = await this.get(key);
      if (seen) return seen;
      const entry = { key, h1, firstSeen: new Date().toISOString() };
      await this.store.putBytes(this.keyOf(key), JSON.stringify(entry));
      return entry;
    });
    const settled = next
      .catch(() => undefined)
      .finally(() => {
        if (this.locks.get(key) === settled) this.locks.delete(key);
      });
    this.locks.set(key, settled);
    return next;
  }
}
