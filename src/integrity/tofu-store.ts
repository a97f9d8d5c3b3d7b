/**
 * Error codes:
 * | code          | meaning                                                              |
 * |---------------|----------------------------------------------------------------------|
 * | TOFU_TAMPERED | a ledger entry fails its authentication with the state key (refused) |
 */
import { createHash } from 'node:crypto';
import { ModgateError } from '../errors.js';
import type { StateSealer } from '../storage/sealed.js';
import type { TofuLedger } from './checksums.js';

interface Entry {
  key: string;
  h1: string;
  firstSeen: string;
}

/** The first-writer-wins ledger this needs (src/state's TofuState). */
export interface TofuEntries {
  /** Stores `value` under `key` unless a value is there; returns the stored value. */
  claimTofu(key: string, value: string): Promise<string>;
  getTofu(key: string): Promise<string | null>;
}

const PURPOSE = 'tofu';

/**
 * A TOFU ledger over the shared state: one entry per module version, sealed
 * with the gateway's state key, and claimed atomically (the first writer wins,
 * whichever replica it is, and every replica reads that entry back). An entry
 * that fails its check is refused with a SECURITY ERROR, never silently trusted
 * anew: that would let whoever edited the ledger choose the hash.
 */
export class StateTofuLedger implements TofuLedger {
  constructor(
    private readonly entries: TofuEntries,
    private readonly sealer: StateSealer,
  ) {}

  private idOf(key: string): string {
    return createHash('sha256').update(key).digest('hex');
  }

  /** The name the seal is bound to (the blob key earlier versions used, so their entries still open). */
  private sealName(id: string): string {
    return `tofu/${id}.json`;
  }

  async get(key: string): Promise<{ h1: string; firstSeen: string } | null> {
    const id = this.idOf(key);
    const raw = await this.entries.getTofu(id);
    return raw === null ? null : this.open(key, id, raw);
  }

  async remember(key: string, h1: string): Promise<{ h1: string; firstSeen: string }> {
    const id = this.idOf(key);
    const entry: Entry = { key, h1, firstSeen: new Date().toISOString() };
    const sealed = this.sealer.seal(PURPOSE, this.sealName(id), JSON.stringify(entry));
    return this.open(key, id, await this.entries.claimTofu(id, sealed));
  }

  private open(key: string, id: string, raw: string): { h1: string; firstSeen: string } {
    const body = this.sealer.open(PURPOSE, this.sealName(id), raw);
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
        { key, entry: this.sealName(id) },
      );
    }
    return { h1: entry.h1, firstSeen: entry.firstSeen };
  }
}
