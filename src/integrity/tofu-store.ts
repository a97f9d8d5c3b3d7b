/**
 * Error codes:
 * | code          | meaning                                                              |
 * |---------------|----------------------------------------------------------------------|
 * | TOFU_TAMPERED | a ledger entry fails its authentication with the state key (refused) |
 */
import type { BlobStore } from '../storage/types.js';
import type { StateSealer } from '../storage/sealed.js';
import type { TofuLedger } from './checksums.js';
import { createHash } from 'node:crypto';
import { ModgateError } from '../errors.js';

interface Entry {
  key: string;
  h1: string;
  firstSeen: string;
}

const PURPOSE = 'tofu';

/**
 * A TOFU ledger kept in the blob store, one small JSON blob per module
 * version, each sealed with the gateway's state key. An entry that fails its
 * check is refused with a SECURITY ERROR, never silently trusted anew: that
 * would let whoever edited the ledger choose the hash.
 */
export class StoreTofuLedger implements TofuLedger {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: BlobStore,
    private readonly sealer: StateSealer,
  ) {}

  private keyOf(key: string): string {
    return `tofu/${createHash('sha256').update(key).digest('hex')}.json`;
  }

  async get(key: string): Promise<{ h1: string; firstSeen: string } | null> {
    const name = this.keyOf(key);
    const raw = await this.store.getBytes(name);
    if (!raw) return null;
    const body = this.sealer.open(PURPOSE, name, raw);
    let entry: Partial<Entry> | undefined;
    try {
      entry = body === null ? undefined : (JSON.parse(body) as Partial<Entry>);
    } catch {
      entry = undefined;
    }
    if (
      !entry ||
      entry.key !== key ||
      typeof entry.h1 !== 'string' ||
      typeof entry.firstSeen !== 'string'
    ) {
      throw new ModgateError(
        'TOFU_TAMPERED',
        `SECURITY ERROR: the TOFU ledger entry for ${key} fails its authentication\n` +
          `modgate refuses to trust it or to re-trust the module; see docs/security-model.md`,
        { key, entry: name },
      );
    }
    return { h1: entry.h1, firstSeen: entry.firstSeen };
  }

  remember(key: string, h1: string): Promise<{ h1: string; firstSeen: string }> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      const seen = await this.get(key);
      if (seen) return seen;
      const entry: Entry = { key, h1, firstSeen: new Date().toISOString() };
      const name = this.keyOf(key);
      await this.store.putBytes(name, this.sealer.seal(PURPOSE, name, JSON.stringify(entry)));
      return { h1, firstSeen: entry.firstSeen };
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
