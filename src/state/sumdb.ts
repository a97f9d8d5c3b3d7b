/**
 * The checksum-database client's store over the shared state: the tree head
 * and fork evidence live in the shared state (so that every replica sees one
 * head and one alarm), tiles stay in the local tile store (they are immutable
 * and checked against the head on every read).
 */
import { parseForkEvidence, type ForkEvidence, type SumdbStore } from '../integrity/sumdb/store.js';
import type { SharedState } from './types.js';

type Tiles = Pick<SumdbStore, 'getTile' | 'putTile'> & {
  location?(name: string): string;
  /** A local copy of each detected fork's evidence, for the operator. */
  putEvidence?(name: string, evidence: ForkEvidence): Promise<void>;
};

export class StateSumdbStore implements SumdbStore {
  constructor(
    private readonly tiles: Tiles,
    private readonly state: Pick<
      SharedState,
      'engine' | 'getHead' | 'advanceHead' | 'recordFork' | 'forkEvidence'
    >,
  ) {}

  location(name: string): string {
    return this.state.engine === 'local' && this.tiles.location
      ? this.tiles.location(name)
      : `the ${this.state.engine} shared state (tree head of ${name})`;
  }

  async getHead(name: string): Promise<Buffer | null> {
    const note = await this.state.getHead(name);
    return note === null ? null : Buffer.from(note, 'utf8');
  }

  advanceHead(name: string, expected: Buffer | null, next: Buffer): Promise<boolean> {
    return this.state.advanceHead(name, expected?.toString('utf8') ?? null, next.toString('utf8'));
  }

  getTile(name: string, path: string): Promise<Buffer | null> {
    return this.tiles.getTile(name, path);
  }

  putTile(name: string, path: string, data: Buffer): Promise<void> {
    return this.tiles.putTile(name, path, data);
  }

  async putEvidence(name: string, evidence: ForkEvidence): Promise<void> {
    await this.tiles.putEvidence?.(name, evidence).catch(() => undefined);
    await this.state.recordFork(name, JSON.stringify(evidence));
  }

  async forkEvidence(name: string): Promise<ForkEvidence | null> {
    const raw = await this.state.forkEvidence(name);
    return raw === null ? null : parseForkEvidence(name, raw);
  }
}
