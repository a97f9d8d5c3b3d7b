/**
 * Tamper-evident log hashing as used by Go checksum databases
 * (golang.org/x/mod/sumdb/tlog): RFC 6962 Merkle trees, the stored-hash
 * layout, inclusion ("record") and consistency ("tree") proofs, and the tree
 * and record text formats. Tiles live in tiles.ts.
 *
 * Tree sizes and indexes are JS numbers; sizes above 2^50 are refused.
 *
 * Error codes:
 * | code                  | meaning                                                  |
 * |-----------------------|----------------------------------------------------------|
 * | TLOG_INVALID_INPUT    | out-of-range size or index given to a proof function    |
 * | TLOG_BAD_PROOF        | a proof does not verify ("invalid transparency proof")  |
 * | TLOG_MALFORMED_TREE   | a tree note text is malformed                            |
 * | TLOG_MALFORMED_RECORD | a record (lookup response or data tile) is malformed     |
 * | TLOG_MALFORMED_HASH   | a hash is not 32 bytes of standard base64                |
 * | TLOG_BAD_READER       | a hash reader returned the wrong number of hashes        |
 */
import { createHash, hash } from 'node:crypto';
import { ModgateError } from '../errors.js';
import { decodeStdBase64 } from './note.js';

export type Hash = Buffer;
export const HASH_SIZE = 32;
export const MAX_TREE_SIZE = 2 ** 50;

/** Reads stored hashes by stored-hash index (sync or async). */
export interface HashReader {
  readHashes(indexes: number[]): Hash[] | Promise<Hash[]>;
}

export interface Tree {
  n: number;
  hash: Hash;
}

export const shl = (n: number, k: number): number => n * 2 ** k;
export const shr = (n: number, k: number): number => Math.floor(n / 2 ** k);

function trailingOnes(n: number): number {
  let c = 0;
  for (let x = n; x % 2 === 1; x = shr(x, 1)) c++;
  return c;
}

export function recordHash(data: Uint8Array | string): Hash {
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(data)
    .digest();
}

/** 0x01 || left || right, reused: a proof or a tile check hashes thousands of nodes. */
const NODE = Buffer.alloc(1 + 2 * HASH_SIZE, 1);

export function nodeHash(left: Hash, right: Hash): Hash {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    return createHash('sha256')
      .update(Buffer.from([1]))
      .update(left)
      .update(right)
      .digest();
  }
  NODE.set(left, 1);
  NODE.set(right, 1 + HASH_SIZE);
  return hash('sha256', NODE, 'buffer');
}

export const EMPTY_TREE_HASH: Hash = createHash('sha256').digest();

export function parseHash(s: string): Hash {
  const h = decodeStdBase64(s);
  if (!h || h.length !== HASH_SIZE) throw new ModgateError('TLOG_MALFORMED_HASH', 'malformed hash');
  return h;
}

/** The index of the hash for the level-`level` subtree numbered n, in stored order. */
export function storedHashIndex(level: number, n: number): number {
  let m = n;
  for (let l = level; l > 0; l--) m = 2 * m + 1;
  let i = 0;
  for (; m > 0; m = shr(m, 1)) i += m;
  return i + level;
}

/** Inverse of storedHashIndex. */
export function splitStoredHashIndex(index: number): { level: number; n: number } {
  let n = Math.floor(index / 2);
  let indexN = storedHashIndex(0, n);
  for (;;) {
    const x = indexN + 1 + trailingOnes(n);
    if (x > index) break;
    n++;
    indexN = x;
  }
  const level = index - indexN;
  return { level, n: shr(n, level) };
}

/** How many hashes are stored for a tree of n records. */
export function storedHashCount(n: number): number {
  if (n === 0) return 0;
  return storedHashIndex(0, n - 1) + 1 + trailingOnes(n - 1);
}

async function readExactly(r: HashReader, indexes: number[]): Promise<Hash[]> {
  const hashes = await r.readHashes(indexes);
  if (hashes.length !== indexes.length) {
    throw new ModgateError(
      'TLOG_BAD_READER',
      `hash reader returned ${hashes.length} hashes for ${indexes.length} indexes`,
    );
  }
  return hashes;
}

/** The hashes to append when adding record n (with record hash h): h and its new parents. */
export async function storedHashesForRecordHash(
  n: number,
  h: Hash,
  r: HashReader,
): Promise<Hash[]> {
  const m = trailingOnes(n);
  const indexes: number[] = [];
  for (let i = m - 1; i >= 0; i--) indexes.push(storedHashIndex(i, shr(n, i) - 1));
  const old = await readExactly(r, indexes);
  const out = [h];
  let cur = h;
  for (let i = 0; i < m; i++) {
    cur = nodeHash(old[m - 1 - i]!, cur);
    out.push(cur);
  }
  return out;
}

export function storedHashes(n: number, data: Uint8Array | string, r: HashReader): Promise<Hash[]> {
  return storedHashesForRecordHash(n, recordHash(data), r);
}

function maxpow2(n: number): { k: number; l: number } {
  let l = 0;
  while (2 ** (l + 1) < n) l++;
  return { k: 2 ** l, l };
}

/** Stored-hash indexes of the complete subtrees covering [lo, hi). */
export function subTreeIndex(lo: number, hi: number, need: number[] = []): number[] {
  let x = lo;
  while (x < hi) {
    const { k, l } = maxpow2(hi - x + 1);
    need.push(storedHashIndex(l, shr(x, l)));
    x += k;
  }
  return need;
}

/** Combines the hashes of the complete subtrees covering [lo, hi); returns the rest of `hashes`. */
function subTreeHash(lo: number, hi: number, hashes: Hash[]): [Hash, Hash[]] {
  let numTree = 0;
  for (let x = lo; x < hi; x += maxpow2(hi - x + 1).k) numTree++;
  let h = hashes[numTree - 1]!;
  for (let i = numTree - 2; i >= 0; i--) h = nodeHash(hashes[i]!, h);
  return [h, hashes.slice(numTree)];
}

/** The root hash of the tree of the first n records. */
export async function treeHash(n: number, r: HashReader): Promise<Hash> {
  if (n === 0) return EMPTY_TREE_HASH;
  const indexes = subTreeIndex(0, n);
  return subTreeHash(0, n, await readExactly(r, indexes))[0];
}

function invalid(fn: string): ModgateError {
  return new ModgateError('TLOG_INVALID_INPUT', `tlog: invalid inputs in ${fn}`);
}
const proofFailed = (): ModgateError =>
  new ModgateError('TLOG_BAD_PROOF', 'invalid transparency proof');

function leafProofIndex(lo: number, hi: number, n: number, need: number[]): number[] {
  if (lo + 1 === hi) return need;
  const { k } = maxpow2(hi - lo);
  if (n < lo + k) {
    leafProofIndex(lo, lo + k, n, need);
    return subTreeIndex(lo + k, hi, need);
  }
  subTreeIndex(lo, lo + k, need);
  return leafProofIndex(lo + k, hi, n, need);
}

function leafProof(lo: number, hi: number, n: number, hashes: Hash[]): [Hash[], Hash[]] {
  if (lo + 1 === hi) return [[], hashes];
  const { k } = maxpow2(hi - lo);
  let p: Hash[];
  let th: Hash;
  if (n < lo + k) {
    [p, hashes] = leafProof(lo, lo + k, n, hashes);
    [th, hashes] = subTreeHash(lo + k, hi, hashes);
  } else {
    [th, hashes] = subTreeHash(lo, lo + k, hashes);
    [p, hashes] = leafProof(lo + k, hi, n, hashes);
  }
  return [[...p, th], hashes];
}

/** Proof that record n is in the tree of size t. */
export async function proveRecord(t: number, n: number, r: HashReader): Promise<Hash[]> {
  if (t < 0 || n < 0 || n >= t) throw invalid('ProveRecord');
  const indexes = leafProofIndex(0, t, n, []);
  if (indexes.length === 0) return [];
  return leafProof(0, t, n, await readExactly(r, indexes))[0];
}

function runRecordProof(p: Hash[], lo: number, hi: number, n: number, leaf: Hash): Hash {
  if (lo + 1 === hi) {
    if (p.length !== 0) throw proofFailed();
    return leaf;
  }
  if (p.length === 0) throw proofFailed();
  const { k } = maxpow2(hi - lo);
  const last = p[p.length - 1]!;
  if (n < lo + k) return nodeHash(runRecordProof(p.slice(0, -1), lo, lo + k, n, leaf), last);
  return nodeHash(last, runRecordProof(p.slice(0, -1), lo + k, hi, n, leaf));
}

/** Verifies that record n with hash h is in the tree of size t with root th. Throws TLOG_BAD_PROOF. */
export function checkRecord(p: Hash[], t: number, th: Hash, n: number, h: Hash): void {
  if (t < 0 || n < 0 || n >= t) throw invalid('CheckRecord');
  if (!runRecordProof(p, 0, t, n, h).equals(th)) throw proofFailed();
}

function treeProofIndex(lo: number, hi: number, n: number, need: number[]): number[] {
  if (n === hi) return lo === 0 ? need : subTreeIndex(lo, hi, need);
  const { k } = maxpow2(hi - lo);
  if (n <= lo + k) {
    treeProofIndex(lo, lo + k, n, need);
    return subTreeIndex(lo + k, hi, need);
  }
  subTreeIndex(lo, lo + k, need);
  return treeProofIndex(lo + k, hi, n, need);
}

function treeProof(lo: number, hi: number, n: number, hashes: Hash[]): [Hash[], Hash[]] {
  if (n === hi) {
    if (lo === 0) return [[], hashes];
    const [th, rest] = subTreeHash(lo, hi, hashes);
    return [[th], rest];
  }
  const { k } = maxpow2(hi - lo);
  let p: Hash[];
  let th: Hash;
  if (n <= lo + k) {
    [p, hashes] = treeProof(lo, lo + k, n, hashes);
    [th, hashes] = subTreeHash(lo + k, hi, hashes);
  } else {
    [th, hashes] = subTreeHash(lo, lo + k, hashes);
    [p, hashes] = treeProof(lo + k, hi, n, hashes);
  }
  return [[...p, th], hashes];
}

/** Proof that the tree of size n is a prefix of the tree of size t. */
export async function proveTree(t: number, n: number, r: HashReader): Promise<Hash[]> {
  if (t < 1 || n < 1 || n > t) throw invalid('ProveTree');
  const indexes = treeProofIndex(0, t, n, []);
  if (indexes.length === 0) return [];
  return treeProof(0, t, n, await readExactly(r, indexes))[0];
}

function runTreeProof(p: Hash[], lo: number, hi: number, n: number, old: Hash): [Hash, Hash] {
  if (n === hi) {
    if (lo === 0) {
      if (p.length !== 0) throw proofFailed();
      return [old, old];
    }
    if (p.length !== 1) throw proofFailed();
    return [p[0]!, p[0]!];
  }
  if (p.length === 0) throw proofFailed();
  const { k } = maxpow2(hi - lo);
  const last = p[p.length - 1]!;
  if (n <= lo + k) {
    const [oh, th] = runTreeProof(p.slice(0, -1), lo, lo + k, n, old);
    return [oh, nodeHash(th, last)];
  }
  const [oh, th] = runTreeProof(p.slice(0, -1), lo + k, hi, n, old);
  return [nodeHash(last, oh), nodeHash(last, th)];
}

/** Verifies that the tree (n, h) is a prefix of the tree (t, th). Throws TLOG_BAD_PROOF. */
export function checkTree(p: Hash[], t: number, th: Hash, n: number, h: Hash): void {
  if (t < 1 || n < 1 || n > t) throw invalid('CheckTree');
  const [h2, th2] = runTreeProof(p, 0, t, n, h);
  if (!th2.equals(th) || !h2.equals(h)) throw proofFailed();
}

export {
  formatTree,
  parseTree,
  formatRecord,
  parseRecord,
  isValidRecordText,
} from './sumdb/format.js';
