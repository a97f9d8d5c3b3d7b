/**
 * Persistent state of a checksum-database client: the newest verified signed
 * tree head, verified tiles (immutable), and fork evidence. Replicas of one
 * gateway may share the head and the evidence (src/state): the head moves only
 * by compare-and-set, and evidence recorded by any of them stops them all.
 */

/** Two signed heads of one database that cannot both be true. */
export interface ForkEvidence {
  name: string;
  detectedAt: string;
  /** The signed note of the smaller (or equal-size) tree. */
  olderNote: string;
  /** The signed note of the larger (or equal-size) tree. */
  newerNote: string;
  older: { treeSize: number; rootHash: string };
  newer: { treeSize: number; rootHash: string };
  /** The root hash of the first older.treeSize records according to the newer tree. */
  computedOlderHash: string;
  /** Consistency proof from the computed older tree to the newer tree (base64 hashes). */
  proof: string[];
}

export interface SumdbStore {
  getHead(name: string): Promise<Buffer | null>;
  /**
   * Stores `next` only if the stored head is still `expected` (null: none yet);
   * false when another writer moved it first. The caller has checked that
   * `next` is consistent with `expected`.
   */
  advanceHead(name: string, expected: Buffer | null, next: Buffer): Promise<boolean>;
  /** `path` is a canonical tile path such as "tile/8/0/x001/234.p/5". */
  getTile(name: string, path: string): Promise<Buffer | null>;
  putTile(name: string, path: string, data: Buffer): Promise<void>;
  /** Records fork evidence unless some is recorded for the database already. */
  putEvidence(name: string, evidence: ForkEvidence): Promise<void>;
  /** The recorded fork evidence: while there is some, no answer of the database is trusted. */
  forkEvidence(name: string): Promise<ForkEvidence | null>;
  /** Where the state of a database lives, for error messages (a file path). */
  location?(name: string): string;
}

/** A SumdbStore in memory (tests, or when no state directory is configured). */
export class MemorySumdbStore implements SumdbStore {
  readonly heads = new Map<string, Buffer>();
  readonly tiles = new Map<string, Buffer>();
  readonly evidence: ForkEvidence[] = [];

  async getHead(name: string): Promise<Buffer | null> {
    return this.heads.get(name) ?? null;
  }

  async advanceHead(name: string, expected: Buffer | null, next: Buffer): Promise<boolean> {
    const cur = this.heads.get(name) ?? null;
    if (cur === null ? expected !== null : expected === null || !cur.equals(expected)) return false;
    this.heads.set(name, Buffer.from(next));
    return true;
  }

  async getTile(name: string, path: string): Promise<Buffer | null> {
    return this.tiles.get(`${name}/${path}`) ?? null;
  }

  async putTile(name: string, path: string, data: Buffer): Promise<void> {
    this.tiles.set(`${name}/${path}`, Buffer.from(data));
  }

  async putEvidence(name: string, evidence: ForkEvidence): Promise<void> {
    if (!this.evidence.some((e) => e.name === name)) this.evidence.push(evidence);
  }

  async forkEvidence(name: string): Promise<ForkEvidence | null> {
    return this.evidence.find((e) => e.name === name) ?? null;
  }
}

/**
 * Recorded evidence read back. Evidence that no longer parses still stops the
 * database (fail closed): it says so instead of the two heads.
 */
export function parseForkEvidence(name: string, raw: string): ForkEvidence {
  try {
    const e = JSON.parse(raw) as Partial<ForkEvidence>;
    if (
      e &&
      typeof e.olderNote === 'string' &&
      typeof e.newerNote === 'string' &&
      typeof e.computedOlderHash === 'string' &&
      Array.isArray(e.proof) &&
      e.older &&
      e.newer
    ) {
      return { ...e, name } as ForkEvidence;
    }
  } catch {
    // below
  }
  const unreadable = `(recorded fork evidence for ${name} is unreadable)`;
  return {
    name,
    detectedAt: '',
    olderNote: unreadable,
    newerNote: unreadable,
    older: { treeSize: 0, rootHash: '' },
    newer: { treeSize: 0, rootHash: '' },
    computedOlderHash: '',
    proof: [],
  };
}
