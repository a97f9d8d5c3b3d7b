/**
 * Persistent state of a checksum-database client: the newest verified signed
 * tree head, verified tiles (immutable), and fork evidence.
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
  putHead(name: string, signedNote: Buffer): Promise<void>;
  /** `path` is a canonical tile path such as "tile/8/0/x001/234.p/5". */
  getTile(name: string, path: string): Promise<Buffer | null>;
  putTile(name: string, path: string, data: Buffer): Promise<void>;
  putEvidence(name: string, evidence: ForkEvidence): Promise<void>;
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

  async putHead(name: string, signedNote: Buffer): Promise<void> {
    this.heads.set(name, Buffer.from(signedNote));
  }

  async getTile(name: string, path: string): Promise<Buffer | null> {
    return this.tiles.get(`${name}/${path}`) ?? null;
  }

  async putTile(name: string, path: string, data: Buffer): Promise<void> {
    this.tiles.set(`${name}/${path}`, Buffer.from(data));
  }

  async putEvidence(_name: string, evidence: ForkEvidence): Promise<void> {
    this.evidence.push(evidence);
  }
}
