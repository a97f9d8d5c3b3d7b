/**
 * A verifying checksum-database client, following the rules of Go's
 * golang.org/x/mod/sumdb Client: every signed tree head must verify with the
 * configured key and be consistent with every head seen before (checked
 * through tiles), and every lookup record must be proven in the newest tree.
 *
 * Error codes:
 * | code               | meaning                                                        |
 * |--------------------|----------------------------------------------------------------|
 * | SUMDB_FORK         | two signed heads are inconsistent (evidence is saved), or fork |
 * |                    | evidence is recorded in the (shared) state: every answer stops |
 * | SUMDB_BAD_PROOF    | a record does not match the hash proven by the tree            |
 * | SUMDB_BAD_TILE     | a tile is missing, has the wrong size, or does not match       |
 * | SUMDB_NOT_FOUND    | the database has no record for the module version (404/410)  |
 * | SUMDB_UNAVAILABLE  | the database could not be reached                              |
 * | SUMDB_BAD_RESPONSE | a response is malformed (bad record, tree note, record id)     |
 * | SUMDB_BAD_REQUEST  | the module path, version or tile height is not acceptable      |
 * | CHECKSUM_MISMATCH  | checkHashes/verifyGoSumLine: a hash differs from the database  |
 * | SUMDB_STATE_INVALID| the stored tree head does not verify with the configured key   |
 * | NOTE_*             | from note.ts: a signed head does not verify with the key       |
 */
import { ModgateError, isModgateError } from '../../errors.js';
import { openNote, parseVerifierKey, type Verifier } from '../note.js';
import { EMPTY_TREE_HASH, parseRecord, parseTree, proveTree, recordHash } from '../tlog.js';
import { storedHashIndex, treeHash, type Hash, type HashReader, type Tree } from '../tlog.js';
import { tileHashReader } from '../tiles.js';
import type { ForkEvidence } from './store.js';
import { asSumdbError, escapeLookupElem, forkError } from './support.js';
import { TileSource } from './tile-source.js';
import type { LookupResult, SignedHead, SumdbClientOptions } from './types.js';

export type {
  LookupEvidence,
  LookupResult,
  SignedHead,
  SumdbClientOptions,
  SumdbLogger,
  SumdbTransportLike,
} from './types.js';
export { asSumdbError } from './support.js';

interface VerifiedRecord {
  id: number;
  text: string;
  head: SignedHead;
}

const GO_MOD = '/go.mod';
/** Lost compare-and-set races in a row before a merge gives up (replicas advancing at once). */
const MAX_HEAD_RACES = 16;

export class SumdbClient {
  readonly name: string;
  private readonly verifier: Verifier;
  /** Verified tiles (memory, then the store, else the server), shared with the relay. */
  readonly tiles: TileSource;
  private latestTree: Tree = { n: 0, hash: EMPTY_TREE_HASH };
  private latestNote: Buffer | null = null;
  /** The head last read from or written to the store: what compare-and-set expects. */
  private storedNote: Buffer | null = null;
  private initDone: Promise<void> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Signed heads being verified and merged, by their bytes: concurrent lookups share one. */
  private readonly merging = new Map<string, Promise<void>>();
  private readonly records = new Map<string, Promise<VerifiedRecord>>();

  constructor(private readonly opts: SumdbClientOptions) {
    this.verifier = parseVerifierKey(opts.verifierKey);
    if (this.verifier.name !== opts.name) {
      throw new ModgateError(
        'NOTE_KEY_INVALID',
        `key name ${this.verifier.name} does not match database name ${opts.name}`,
      );
    }
    this.name = opts.name;
    const height = opts.tileHeight ?? 8;
    if (!Number.isInteger(height) || height < 1 || height > 30) {
      throw new ModgateError('SUMDB_BAD_REQUEST', `invalid tile height ${height}`);
    }
    this.tiles = new TileSource(opts.name, height, opts.store, (p) => this.fetch(p), opts.logger);
  }

  /** The newest verified signed head held by this client (after loading the stored one). */
  async head(): Promise<SignedHead | null> {
    await this.init();
    await this.assertNoFork();
    return this.latestNote ? this.headInfo() : null;
  }

  /** Fetches /latest, verifies it and merges it; returns the newest verified head. */
  async latest(): Promise<SignedHead> {
    await this.init();
    await this.assertNoFork();
    const msg = await this.fetch('/latest');
    if (!msg) throw new ModgateError('SUMDB_UNAVAILABLE', `${this.name}/latest not found`);
    await this.mergeHead(msg).catch((err: unknown) => {
      throw asSumdbError(err);
    });
    return this.headInfo();
  }

  /**
   * The go.sum lines of module@version ("M V h1:..." and "M V/go.mod h1:..."),
   * proven to be in the checksum database. A version ending in "/go.mod" gives
   * only the go.mod line.
   */
  async lookup(modulePath: string, version: string): Promise<LookupResult> {
    const goModOnly = version.endsWith(GO_MOD);
    const vers = goModOnly ? version.slice(0, -GO_MOD.length) : version;
    const remote = `/lookup/${escapeLookupElem(modulePath, 'path')}@${escapeLookupElem(vers, 'version')}`;
    await this.assertNoFork();
    const rec = await this.record(remote);
    const prefixes = goModOnly
      ? [`${modulePath} ${version} `]
      : [`${modulePath} ${vers} `, `${modulePath} ${vers}${GO_MOD} `];
    const lines = rec.text.split('\n').filter((l) => prefixes.some((p) => l.startsWith(p)));
    if (lines.length === 0) {
      throw new ModgateError(
        'SUMDB_BAD_RESPONSE',
        `checksum database record ${rec.id} has no lines for ${modulePath}@${version}`,
      );
    }
    return { lines, evidence: { ...rec.head, recordId: rec.id } };
  }

  /** Checks the given h1 hashes against the database; throws CHECKSUM_MISMATCH. */
  async checkHashes(
    modulePath: string,
    version: string,
    want: { zipH1?: string; modH1?: string },
  ): Promise<LookupResult> {
    const res = await this.lookup(modulePath, version);
    const expect = (v: string, got: string): void => {
      const fields = res.lines
        .map((l) => l.split(' '))
        .find((f) => f[1] === v && f[2]?.startsWith('h1:'));
      if (!fields) {
        throw new ModgateError(
          'SUMDB_BAD_RESPONSE',
          `checksum database has no h1 for ${modulePath} ${v}`,
        );
      }
      if (fields[2] !== got) {
        throw new ModgateError(
          'CHECKSUM_MISMATCH',
          `${modulePath}@${v}: checksum mismatch\n\tdownloaded: ${got}\n\t${this.name}: ${fields[2]}`,
          { module: modulePath, version: v, want: fields[2], got, source: this.name },
        );
      }
    };
    if (want.zipH1 !== undefined) expect(version, want.zipH1);
    if (want.modH1 !== undefined) expect(`${version}${GO_MOD}`, want.modH1);
    return res;
  }

  /** Checks one go.sum line ("M V h1:..." or "M V/go.mod h1:...") against the database. */
  async verifyGoSumLine(line: string): Promise<LookupResult> {
    const f = line.trim().split(/\s+/);
    const [m, v, h] = f;
    if (f.length !== 3 || !m || !v || !h?.startsWith('h1:')) {
      throw new ModgateError('SUMDB_BAD_REQUEST', `malformed go.sum line ${JSON.stringify(line)}`);
    }
    if (v.endsWith(GO_MOD)) return this.checkHashes(m, v.slice(0, -GO_MOD.length), { modH1: h });
    return this.checkHashes(m, v, { zipH1: h });
  }

  /** The verified head held now, and whether fork evidence is recorded (the console's overview). */
  async status(): Promise<{ name: string; treeSize: number; rootHash: string; fork: boolean }> {
    const evidence = await this.opts.store.forkEvidence(this.name);
    return {
      name: this.name,
      treeSize: this.latestTree.n,
      rootHash: this.latestTree.hash.toString('base64'),
      fork: Boolean(evidence),
    };
  }

  /** Fork evidence recorded by this or any replica sharing the state stops every answer. */
  private async assertNoFork(): Promise<void> {
    const evidence = await this.opts.store.forkEvidence(this.name).catch((err: unknown) => {
      throw asSumdbError(err);
    });
    if (evidence) throw forkError(evidence);
  }

  private headInfo(): SignedHead {
    return {
      treeSize: this.latestTree.n,
      rootHash: this.latestTree.hash.toString('base64'),
      signedHead: this.latestNote?.toString('utf8') ?? '',
    };
  }

  private init(): Promise<void> {
    this.initDone ??= this.loadStoredHead().catch((err: unknown) => {
      this.initDone = undefined;
      throw asSumdbError(err);
    });
    return this.initDone;
  }

  /**
   * Checks, without any network request, that the stored tree head verifies
   * with the configured key (as the go command does at start). A head that
   * does not stops the start: resetting it silently would let whoever wrote
   * it, or a key swap, roll the gateway back to trusting any tree.
   */
  async checkStoredHead(): Promise<void> {
    const msg = await this.opts.store.getHead(this.name);
    if (msg) this.openStoredHead(msg);
  }

  private openStoredHead(msg: Buffer): Tree {
    try {
      return parseTree(openNote(msg, [this.verifier]).text);
    } catch (err) {
      const where = this.opts.store.location?.(this.name) ?? 'the checksum database state';
      throw new ModgateError(
        'SUMDB_STATE_INVALID',
        `the stored tree head of ${this.name} (${where}) does not verify with the configured key: ${(err as Error).message}. ` +
          'If the key was changed on purpose, move that file away; otherwise the state was tampered with.',
        { name: this.name, file: where },
        { cause: err },
      );
    }
  }

  /** Loads the stored head and checks it against its own tiles, as Go's client does at start. */
  private async loadStoredHead(): Promise<void> {
    const msg = await this.opts.store.getHead(this.name);
    if (!msg) return;
    const tree = this.openStoredHead(msg);
    if (!(await treeHash(tree.n, this.reader(tree))).equals(tree.hash)) {
      throw new ModgateError(
        'SUMDB_BAD_TILE',
        `checking tree#${tree.n}: stored head does not match`,
      );
    }
    this.latestTree = tree;
    this.latestNote = msg;
    this.storedNote = msg;
  }

  private async fetch(path: string): Promise<Buffer | null> {
    try {
      return await this.opts.transport.get(path);
    } catch (err) {
      throw asSumdbError(err);
    }
  }

  /** One verified record per lookup path, shared by concurrent callers and kept in memory. */
  private record(remote: string): Promise<VerifiedRecord> {
    let pending = this.records.get(remote);
    if (pending) return pending;
    pending = this.fetchRecord(remote);
    this.records.set(remote, pending);
    pending.catch(() => this.records.delete(remote));
    const cap = this.opts.maxCachedLookups ?? 4096;
    for (const k of this.records.keys()) {
      if (this.records.size <= cap) break;
      this.records.delete(k);
    }
    return pending;
  }

  private async fetchRecord(remote: string): Promise<VerifiedRecord> {
    await this.init();
    const data = await this.fetch(remote);
    if (!data) throw new ModgateError('SUMDB_NOT_FOUND', `${this.name}${remote}: not found`);
    try {
      const { id, text, rest } = parseRecord(data);
      await this.mergeHead(rest);
      const tree = this.latestTree;
      const head = this.headInfo();
      if (id < 0 || id >= tree.n) {
        throw new ModgateError(
          'SUMDB_BAD_RESPONSE',
          `cannot validate record ${id} in tree of size ${tree.n}`,
        );
      }
      const [proven] = await this.reader(tree).readHashes([storedHashIndex(0, id)]);
      if (!proven || !proven.equals(recordHash(text))) {
        throw new ModgateError(
          'SUMDB_BAD_PROOF',
          `cannot authenticate record data in server response (record ${id})`,
          { recordId: id, treeSize: tree.n },
        );
      }
      return { id, text, head };
    } catch (err) {
      throw asSumdbError(err);
    }
  }

  /**
   * Verifies a signed head and merges it with the newest known one. The head
   * already verified and merged, byte for byte, is not verified again; one
   * being verified is shared by every lookup that brought it.
   */
  private mergeHead(msg: Buffer): Promise<void> {
    if (this.latestNote?.equals(msg)) return Promise.resolve();
    const key = msg.toString('latin1');
    let p = this.merging.get(key);
    if (!p) {
      p = this.verifyAndMerge(msg).finally(() => this.merging.delete(key));
      this.merging.set(key, p);
    }
    return p;
  }

  /** Only the advance of the newest head is serialised; lookups under one head are not. */
  private async verifyAndMerge(msg: Buffer): Promise<void> {
    const tree = parseTree(openNote(msg, [this.verifier]).text);
    const run = this.queue.then(() => this.advance(tree, msg));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * An older or equal head must be a prefix of the newest; a newer one is
   * stored by compare-and-set from the head it was checked against. On a lost
   * race (another replica moved the shared head) that head is verified and
   * checked like any other, adopted, and the merge is tried again.
   */
  private async advance(tree: Tree, msg: Buffer): Promise<void> {
    for (let race = 0; race < MAX_HEAD_RACES; race++) {
      const latest = this.latestTree;
      const latestNote = this.latestNote ?? Buffer.alloc(0);
      if (tree.n === latest.n && tree.hash.equals(latest.hash)) return;
      if (tree.n <= latest.n) return this.checkTrees(tree, msg, latest, latestNote);
      await this.checkTrees(latest, latestNote, tree, msg);
      if (await this.opts.store.advanceHead(this.name, this.storedNote, msg)) {
        this.latestTree = tree;
        this.latestNote = Buffer.from(msg);
        this.storedNote = this.latestNote;
        return;
      }
      await this.adoptStoredHead();
    }
    throw new ModgateError(
      'SUMDB_UNAVAILABLE',
      `the stored tree head of ${this.name} changed ${MAX_HEAD_RACES} times during one update`,
    );
  }

  /** After a lost race: the head another writer stored, verified and checked before it is trusted. */
  private async adoptStoredHead(): Promise<void> {
    const stored = await this.opts.store.getHead(this.name);
    this.storedNote = stored;
    if (!stored) return;
    const tree = this.openStoredHead(stored);
    const latest = this.latestTree;
    const latestNote = this.latestNote ?? Buffer.alloc(0);
    if (tree.n <= latest.n) return this.checkTrees(tree, stored, latest, latestNote);
    await this.checkTrees(latest, latestNote, tree, stored);
    this.latestTree = tree;
    this.latestNote = stored;
  }

  /** Checks that `older` is a prefix of `newer` using newer's tiles; a mismatch is a fork. */
  private async checkTrees(older: Tree, olderNote: Buffer, newer: Tree, newerNote: Buffer) {
    let thr = this.reader(newer);
    let h: Hash;
    try {
      h = await treeHash(older.n, thr);
    } catch (err) {
      if (!isModgateError(err, 'TLOG_BAD_TILE')) throw err;
      // Stored tiles (verified for an earlier head) may disagree with the new
      // head: judge the new head by the server's own tiles.
      thr = tileHashReader(newer, this.tiles.remoteOnly());
      h = await treeHash(older.n, thr);
    }
    if (h.equals(older.hash)) return;
    const proof = older.n > 0 ? await proveTree(newer.n, older.n, thr).catch(() => []) : [];
    const evidence: ForkEvidence = {
      name: this.name,
      detectedAt: new Date().toISOString(),
      olderNote: olderNote.toString('utf8'),
      newerNote: newerNote.toString('utf8'),
      older: { treeSize: older.n, rootHash: older.hash.toString('base64') },
      newer: { treeSize: newer.n, rootHash: newer.hash.toString('base64') },
      computedOlderHash: h.toString('base64'),
      proof: proof.map((p) => p.toString('base64')),
    };
    await this.opts.store.putEvidence(this.name, evidence).catch((err: unknown) => {
      this.opts.logger?.error?.({ err }, 'cannot save checksum database fork evidence');
    });
    this.opts.logger?.error?.(
      { evidence },
      'SECURITY ERROR: checksum database misbehavior detected',
    );
    throw forkError(evidence);
  }

  private reader(tree: Tree): HashReader {
    return tileHashReader(tree, this.tiles);
  }
}
