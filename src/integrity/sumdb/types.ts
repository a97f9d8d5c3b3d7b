/** Shared types of the checksum-database client. */
import type { SumdbStore } from './store.js';

export interface SumdbTransportLike {
  /** GETs a database path ("/latest", "/lookup/M@V", "/tile/..."); null for 404/410. */
  get(path: string): Promise<Buffer | null>;
}

export interface SumdbLogger {
  info?(obj: object, msg: string): void;
  warn?(obj: object, msg: string): void;
  error?(obj: object, msg: string): void;
}

export interface SumdbClientOptions {
  name: string;
  verifierKey: string;
  transport: SumdbTransportLike;
  store: SumdbStore;
  tileHeight?: number;
  logger?: SumdbLogger;
  /** Verified lookups kept in memory (default 4096). */
  maxCachedLookups?: number;
}

export interface SignedHead {
  treeSize: number;
  rootHash: string;
  /** The complete signed note (text and signatures). */
  signedHead: string;
}

export interface LookupEvidence extends SignedHead {
  recordId: number;
}

export interface LookupResult {
  lines: string[];
  evidence: LookupEvidence;
}
