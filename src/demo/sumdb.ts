import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, parseSignerKey, signNote, type Signer } from '../integrity/note.js';
import {
  formatRecord,
  formatTree,
  storedHashes,
  treeHash,
  type Hash,
  type HashReader,
} from '../integrity/tlog.js';
import { parseTilePath, readTileData, type Tile } from '../integrity/tiles.js';
import { formatDataTile } from '../integrity/sumdb/format.js';

/**
 * A checksum database for tests, built with modgate's own tlog code from a real
 * tree and a real Ed25519 key. It serves /latest, /lookup/M@V and /tile/...
 * (any height, hash and data tiles), in process (`transport`) or over HTTP.
 */

export interface FakeRecord {
  path: string;
  version: string;
  h1: string;
  modH1: string;
}

export type Misbehaviour =
  | 'none'
  /** Heads are signed by another key of the same name. */
  | 'wrong-key'
  /** Serves a different tree of the same size (the last record altered). */
  | 'fork'
  /** Serves a different tree one record larger (the last honest record altered). */
  | 'fork-grow'
  /** Lookups carry a validly signed head of size N-1 whose hash is not the honest one. */
  | 'inconsistent-older-head'
  /** Every byte of every hash tile has bit 0x80 flipped. */
  | 'tampered-tile'
  /** Lookups return altered record text with an honest head. */
  | 'tampered-record'
  /** Hash tiles lose their last 5 bytes. */
  | 'truncated-tile'
  /** Partial tiles (.p/W) answer 404 once their full tile exists (as sum.golang.org prunes them). */
  | 'no-partial-tiles'
  /** Everything answers 500. */
  | 'error-500';

export interface FakeSumdbOptions {
  name?: string;
  records?: FakeRecord[];
  /** A fixed key pair (e.g. Go's published test key); the name comes from the key. */
  keys?: { signer: string; verifier: string };
}

export interface FakeSumdbCore {
  readonly name: string;
  readonly verifierKey: string;
  readonly signerKey: string;
  /** Every path asked for, in order. */
  readonly requests: string[];
  /** In-process transport (null for 404/410, throws on other errors). */
  readonly transport: { get(path: string): Promise<Buffer | null> };
  add(records: FakeRecord[]): Promise<void>;
  misbehave(mode: Misbehaviour): Promise<void>;
  /** The honest signed head at `size` (default: the current size). */
  signedHead(size?: number): Promise<Buffer>;
  size(): number;
  handle(path: string): Promise<{ status: number; body: Buffer }>;
}

export interface FakeSumdb extends FakeSumdbCore {
  url: string;
  stop(): Promise<void>;
}

const recordText = (r: FakeRecord): string =>
  `${r.path} ${r.version} ${r.h1}\n${r.path} ${r.version}/go.mod ${r.modH1}\n`;
const unescape = (s: string): string => s.replace(/!([a-z])/g, (_, c: string) => c.toUpperCase());

class Log {
  readonly texts: string[] = [];
  readonly hashes: Hash[] = [];
  readonly ids = new Map<string, number>();
  readonly reader: HashReader = { readHashes: (ix) => ix.map((i) => this.hashes[i]!) };

  async append(key: string, text: string): Promise<void> {
    if (this.ids.has(key)) return;
    this.hashes.push(...(await storedHashes(this.texts.length, text, this.reader)));
    this.ids.set(key, this.texts.length);
    this.texts.push(text);
  }

  async copy(upTo = this.texts.length): Promise<Log> {
    const out = new Log();
    const keys = [...this.ids.keys()];
    for (let i = 0; i < upTo; i++) await out.append(keys[i]!, this.texts[i]!);
    return out;
  }

  async tile(t: Tile): Promise<Buffer | null> {
    const level = t.l < 0 ? 0 : t.l;
    const have = Math.floor(this.texts.length / 2 ** (level * t.h));
    if (t.n * 2 ** t.h + t.w > have) return null;
    if (t.l < 0) return formatDataTile(this.texts.slice(t.n * 2 ** t.h, t.n * 2 ** t.h + t.w));
    return readTileData(t, this.reader);
  }
}

function altered(text: string): string {
  return text.replace(/h1:[^\n]*\n/, 'h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n');
}

export async function createFakeSumdb(opts: FakeSumdbOptions = {}): Promise<FakeSumdbCore> {
  const name = opts.keys
    ? parseSignerKey(opts.keys.signer).name
    : (opts.name ?? 'sumdb.test.localhost');
  const keys = opts.keys ?? generateKeyPair(name);
  const signer = parseSignerKey(keys.signer);
  const rogue = parseSignerKey(generateKeyPair(name).signer);
  const honest = new Log();
  let served = honest;
  let mode: Misbehaviour = 'none';
  const requests: string[] = [];

  const sign = async (log: Log, size: number, s: Signer = signer): Promise<Buffer> =>
    signNote(formatTree({ n: size, hash: await treeHash(size, log.reader) }), [s]);

  const add = async (records: FakeRecord[]): Promise<void> => {
    for (const r of records) await honest.append(`${r.path}@${r.version}`, recordText(r));
  };

  const misbehave = async (m: Misbehaviour): Promise<void> => {
    mode = m;
    served = honest;
    if (m !== 'fork' && m !== 'fork-grow') return;
    const n = honest.texts.length;
    if (n === 0) throw new Error('a fork needs at least one record');
    const keysList = [...honest.ids.keys()];
    const forked = await honest.copy(n - 1);
    await forked.append(keysList[n - 1]!, altered(honest.texts[n - 1]!));
    if (m === 'fork-grow')
      await forked.append(
        'example.com/fork@v1.0.0',
        recordText({
          path: 'example.com/fork',
          version: 'v1.0.0',
          h1: 'h1:fork=',
          modH1: 'h1:fork=',
        }),
      );
    served = forked;
  };

  const head = async (): Promise<Buffer> => {
    const n = served.texts.length;
    if (mode === 'wrong-key') return sign(served, n, rogue);
    if (mode === 'inconsistent-older-head' && n > 1) {
      return signNote(formatTree({ n: n - 1, hash: Buffer.alloc(32, 7) }), [signer]);
    }
    return sign(served, n);
  };

  const ok = (body: Buffer | string): { status: number; body: Buffer } => ({
    status: 200,
    body: Buffer.from(body),
  });
  const fail = (status: number, msg: string): { status: number; body: Buffer } => ({
    status,
    body: Buffer.from(`${msg}\n`),
  });

  const handle = async (path: string): Promise<{ status: number; body: Buffer }> => {
    requests.push(path);
    if (mode === 'error-500') return fail(500, 'internal error');
    if (path === '/latest')
      return ok(
        mode === 'inconsistent-older-head' ? await sign(served, served.texts.length) : await head(),
      );
    if (path.startsWith('/lookup/')) {
      const m = /^\/lookup\/(.+)@([^@/]+)$/.exec(path);
      if (!m) return fail(400, 'invalid module@version syntax');
      const id = served.ids.get(`${unescape(m[1]!)}@${unescape(m[2]!)}`);
      if (id === undefined) return fail(404, 'not found');
      const text = mode === 'tampered-record' ? altered(served.texts[id]!) : served.texts[id]!;
      return ok(Buffer.concat([formatRecord(id, text), await head()]));
    }
    if (path.startsWith('/tile/')) {
      let t: Tile;
      try {
        t = parseTilePath(path.slice(1));
      } catch {
        return fail(400, 'invalid tile syntax');
      }
      const full = { ...t, w: 2 ** t.h };
      if (mode === 'no-partial-tiles' && t.w < full.w && (await served.tile(full))) {
        return fail(404, 'not found');
      }
      const data = await served.tile(t);
      if (!data) return fail(404, 'not found');
      if (t.l >= 0 && mode === 'tampered-tile') return ok(Buffer.from(data.map((b) => b ^ 0x80)));
      if (t.l >= 0 && mode === 'truncated-tile')
        return ok(data.subarray(0, Math.max(0, data.length - 5)));
      return ok(data);
    }
    return fail(404, '404 page not found');
  };

  await add(opts.records ?? []);
  return {
    name,
    verifierKey: keys.verifier,
    signerKey: keys.signer,
    requests,
    transport: {
      async get(path) {
        const res = await handle(path);
        if (res.status === 404 || res.status === 410) return null;
        if (res.status !== 200)
          throw new Error(`HTTP ${res.status}: ${res.body.toString('utf8').trim()}`);
        return res.body;
      },
    },
    add,
    misbehave,
    signedHead: (size) => sign(honest, size ?? honest.texts.length),
    size: () => honest.texts.length,
    handle,
  };
}

/** Starts the fake database over HTTP on 127.0.0.1 (random port). */
export async function startFakeSumdb(opts: FakeSumdbOptions = {}): Promise<FakeSumdb> {
  const core = await createFakeSumdb(opts);
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    core.handle(path).then(
      ({ status, body }) => {
        res.writeHead(status, {
          'content-type':
            path.startsWith('/tile/') && !path.includes('/data/')
              ? 'application/octet-stream'
              : 'text/plain; charset=UTF-8',
        });
        res.end(body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(core, {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** A transport over HTTP to `base` (for tests against startFakeSumdb). */
export function httpTransport(base: string): { get(path: string): Promise<Buffer | null> } {
  return {
    async get(path) {
      const res = await fetch(`${base}${path}`);
      if (res.status === 404 || res.status === 410) return null;
      if (res.status !== 200) throw new Error(`HTTP ${res.status} for ${path}`);
      return Buffer.from(await res.arrayBuffer());
    },
  };
}
