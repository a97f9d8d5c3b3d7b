import t, { type Test } from 'tap';
import { readFile } from 'node:fs/promises';
import { conformance, readJson, td } from '../helpers/testdata.js';
import { isModgateError } from '../../src/errors.js';
import { openNote, parseSignerKey, parseVerifierKey, signNote } from '../../src/integrity/note.js';
import {
  formatRecord,
  formatTree,
  parseTree,
  storedHashesForRecordHash,
  recordHash,
  treeHash,
  type Hash,
  type HashReader,
} from '../../src/integrity/tlog.js';
import {
  newTiles,
  parseTilePath,
  readTileData,
  recordsFromDataTile,
  tilePath,
} from '../../src/integrity/tiles.js';
import { SumdbClient, type SumdbTransportLike } from '../../src/integrity/sumdb/client.js';
import { MemorySumdbStore } from '../../src/integrity/sumdb/store.js';

async function codeOf(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return isModgateError(e) ? e.code : `non-ModgateError: ${String(e)}`;
  }
}

interface ClientJson {
  name: string;
  verifierKey: string;
  signerKey: string;
  tileHeight: number;
  initialConfig: Record<string, string>;
  remote: Array<{ path: string; body?: string; bodyBase64?: string }>;
  expectedLookups: Array<{ path: string; version: string; want: string; latestAfter?: number }>;
  forkSecurityError: { err: string; mustContain: string[] };
}

/** A log and its remote files, built the way x/mod's client tests build theirs. */
class Remote {
  readonly files = new Map<string, Buffer>();
  readonly hashes: Hash[] = [];
  readonly reader: HashReader = { readHashes: (ix) => ix.map((i) => this.hashes[i]!) };
  size = 0;
  flip = false;
  readonly requests: string[] = [];
  constructor(
    private readonly signerKey: string,
    private readonly height: number,
  ) {}

  async sign(n: number): Promise<Buffer> {
    return signNote(formatTree({ n, hash: await treeHash(n, this.reader) }), [
      parseSignerKey(this.signerKey),
    ]);
  }

  async add(key: string, text: string): Promise<void> {
    const id = this.size++;
    this.hashes.push(...(await storedHashesForRecordHash(id, recordHash(text), this.reader)));
    this.files.set(
      `/lookup/${key}`,
      Buffer.concat([formatRecord(id, text), await this.sign(this.size)]),
    );
    for (const tile of newTiles(this.height, id, this.size))
      this.files.set(`/${tilePath(tile)}`, await readTileData(tile, this.reader));
  }

  clone(): Remote {
    const r = new Remote(this.signerKey, this.height);
    for (const [k, v] of this.files) r.files.set(k, v);
    r.hashes.push(...this.hashes);
    r.size = this.size;
    return r;
  }

  readonly transport: SumdbTransportLike = {
    get: async (path) => {
      this.requests.push(path);
      const data = this.files.get(path);
      if (!data) return null;
      return this.flip && path.startsWith('/tile/') ? Buffer.from(data.map((b) => b ^ 0x80)) : data;
    },
  };
}

t.test('sumdb_client_test.json (tile height 2)', async (t) => {
  conformance(t);
  const d = await readJson<ClientJson>('sumdb', 'sumdb_client_test.json');
  const texts = new Map<string, string>();
  for (const r of d.remote)
    if (r.body)
      texts.set(
        r.path.slice('/lookup/'.length),
        r.body.slice(r.body.indexOf('\n') + 1, r.body.indexOf('\n\n') + 1),
      );
  const base = new Remote(d.signerKey, d.tileHeight);
  const order = [
    'rsc.io/quote@v1.5.2',
    'golang.org/x/text@v0.0.0-20170915032832-14c0d48ead0c',
    'rsc.io/sampler@v1.3.0',
    'rsc.io/!quote@v1.5.2',
  ];
  for (const k of order) await base.add(k, texts.get(k)!);
  for (const r of d.remote) {
    t.same(
      base.files.get(r.path),
      r.body ? Buffer.from(r.body) : Buffer.from(r.bodyBase64!, 'base64'),
      `rebuilt remote ${r.path}`,
    );
  }
  const initial = Buffer.from(d.initialConfig[`${d.name}/latest`]!);
  t.same(await base.sign(1), initial, 'initial latest is the signed tree of size 1');
  const newClient = (remote: Remote, store: MemorySumdbStore): SumdbClient =>
    new SumdbClient({
      name: d.name,
      verifierKey: d.verifierKey,
      transport: remote.transport,
      store,
      tileHeight: d.tileHeight,
    });
  const headSize = (s: MemorySumdbStore): number =>
    parseTree(openNote(s.heads.get(d.name)!, [parseVerifierKey(d.verifierKey)]).text).n;

  t.test('lookups', async (t) => {
    const store = new MemorySumdbStore();
    store.heads.set(d.name, initial);
    const remote = base.clone();
    const c = newClient(remote, store);
    for (const l of d.expectedLookups) {
      const before = remote.requests.length;
      const res = await c.lookup(l.path, l.version);
      const goLines = l.version.endsWith('/go.mod')
        ? res.lines
        : res.lines.filter((x) => !x.includes(`${l.version}/go.mod `));
      t.equal(goLines.join('\n'), l.want, `${l.path}@${l.version}`);
      if (l.latestAfter)
        t.equal(headSize(store), l.latestAfter, `latest after ${l.path}@${l.version}`);
      if (l.path === 'rsc.io/quote')
        t.same(
          remote.requests.slice(before).filter((p) => p.startsWith('/tile/')),
          [],
          'older head needs no new tiles',
        );
      if (l.version.endsWith('/go.mod'))
        t.equal(remote.requests.length, before, 'go.mod lookup served from the verified record');
    }
  });

  t.test('bad tiles', async (t) => {
    const store = new MemorySumdbStore();
    store.heads.set(d.name, initial);
    const remote = base.clone();
    remote.flip = true;
    const first = newClient(remote, store).lookup('rsc.io/sampler', 'v1.3.0');
    t.equal(await codeOf(first), 'SUMDB_BAD_TILE', 'inconsistent tile at start');
    remote.flip = false;
    t.ok(await newClient(remote, store).lookup('rsc.io/sampler', 'v1.3.0'));
    remote.flip = true;
    t.equal(
      await codeOf(newClient(remote, store).lookup('rsc.io/Quote', 'v1.5.2')),
      'SUMDB_BAD_TILE',
      'inconsistent tile for tree#3 against tree#4',
    );
    remote.flip = false;
    t.ok(await newClient(remote, store).lookup('rsc.io/Quote', 'v1.5.2'));
    const zero = signNote(formatTree({ n: 1, hash: Buffer.alloc(32) }), [
      parseSignerKey(d.signerKey),
    ]);
    const store2 = new MemorySumdbStore();
    store2.heads.set(d.name, zero);
    t.equal(
      await codeOf(newClient(base.clone(), store2).lookup('rsc.io/sampler', 'v1.3.0')),
      'SUMDB_BAD_TILE',
      'bad starting tree hash',
    );
  });

  t.test('fork: SECURITY ERROR', async (t) => {
    const tc = base.clone();
    const tc2 = base.clone();
    const s1 = new MemorySumdbStore();
    const s2 = new MemorySumdbStore();
    s1.heads.set(d.name, initial);
    s2.heads.set(d.name, initial);
    await tc.add('rsc.io/pkg1@v1.5.2', 'rsc.io/pkg1 v1.5.2 h1:hash!=\n');
    await tc.add('rsc.io/pkg1@v1.5.4', 'rsc.io/pkg1 v1.5.4 h1:hash!=\n');
    t.ok(await newClient(tc, s1).lookup('rsc.io/pkg1', 'v1.5.2'));
    await tc2.add('rsc.io/pkg1@v1.5.3', 'rsc.io/pkg1 v1.5.3 h1:hash!=\n');
    await tc2.add('rsc.io/pkg1@v1.5.4', 'rsc.io/pkg1 v1.5.4 h1:hash!=\n');
    const c2 = newClient(tc2, s2);
    t.ok(await c2.lookup('rsc.io/pkg1', 'v1.5.4'));
    tc2.files.set('/lookup/rsc.io/pkg1@v1.5.2', tc.files.get('/lookup/rsc.io/pkg1@v1.5.2')!);
    const err = await c2.lookup('rsc.io/pkg1', 'v1.5.2').catch((e: unknown) => e);
    t.ok(isModgateError(err, 'SUMDB_FORK'), 'SUMDB_FORK');
    const msg = isModgateError(err) ? err.message : '';
    for (const want of d.forkSecurityError.mustContain)
      t.ok(msg.includes(want), `security text contains ${JSON.stringify(want)}`);
    t.equal(s2.evidence.length, 1, 'evidence saved');
    t.match(s2.evidence[0], { older: { treeSize: 5 }, newer: { treeSize: 6 } });
    t.equal(headSize(s2), 6, 'the stored head is kept');
  });
});

interface Transcript {
  finalLatest: string;
  requests: string[];
  results: Array<{ err: string | null; lines: string[] | null; module: string; version: string }>;
  securityErrors: string[] | null;
}
interface FixtureJson {
  name: string;
  verifierKey: string;
  tileHeight: number;
  treeSize: number;
  records: Array<{
    id: number;
    module: string;
    version: string;
    recordText: string;
    recordHash: string;
  }>;
  latestHistory: Array<{ signedNote: string; treeSize: number }>;
  errorResponses: Record<string, { status: number }>;
  clientColdStart: Transcript;
  clientWarmStartFromTree3: Transcript;
  clientForkedOldTree: { initialLatest: string; run: Transcript };
  files: Array<{ path: string; status: number }>;
}

for (const fixture of ['sumdb-fixture-real', 'sumdb-fixture-600']) {
  t.test(fixture, async (t) => {
    conformance(t);
    const d = await readJson<FixtureJson>('sumdb', fixture, 'fixture.json');
    const serve = (requests: string[]): SumdbTransportLike => ({
      async get(path) {
        requests.push(path);
        return readFile(td('sumdb', fixture, 'files', ...path.slice(1).split('/'))).catch(
          () => null,
        );
      },
    });
    const run = async (
      t: Test,
      tr: Transcript,
      initial: string | null,
      label: string,
    ): Promise<void> => {
      const store = new MemorySumdbStore();
      if (initial) store.heads.set(d.name, Buffer.from(initial));
      const requests: string[] = [];
      const c = new SumdbClient({
        name: d.name,
        verifierKey: d.verifierKey,
        transport: serve(requests),
        store,
        tileHeight: d.tileHeight,
      });
      for (const r of tr.results) {
        const code = await codeOf(c.lookup(r.module, r.version));
        if (r.err) {
          t.equal(code, 'SUMDB_BAD_TILE', `${label}: ${r.module}@${r.version} fails: ${r.err}`);
          continue;
        }
        const res = await c.lookup(r.module, r.version);
        t.same(
          res.lines.filter((x) => x.split(' ')[1] === r.version),
          r.lines,
          `${label}: ${r.module}@${r.version}`,
        );
        t.equal(res.evidence.treeSize, d.treeSize, `${label}: evidence tree size`);
      }
      if (tr.results.some((r) => r.err))
        t.same(requests.slice(0, tr.requests.length), tr.requests, `${label}: first requests`);
      else t.same(requests, tr.requests, `${label}: requests`);
      t.equal(store.heads.get(d.name)?.toString('utf8'), tr.finalLatest, `${label}: final latest`);
    };

    await run(t, d.clientColdStart, null, 'cold start');
    const tree3 = d.latestHistory.find((h) => h.treeSize === 3)!.signedNote;
    await run(t, d.clientWarmStartFromTree3, tree3, 'warm start from tree 3');
    await run(t, d.clientForkedOldTree.run, d.clientForkedOldTree.initialLatest, 'forked old tree');

    t.test('every historical head is consistent with every other', async (t) => {
      let served = '';
      const c = new SumdbClient({
        name: d.name,
        verifierKey: d.verifierKey,
        store: new MemorySumdbStore(),
        tileHeight: d.tileHeight,
        transport: { get: async (p) => (p === '/latest' ? Buffer.from(served) : serve([]).get(p)) },
      });
      for (const h of [...d.latestHistory, ...[...d.latestHistory].reverse()]) {
        served = h.signedNote;
        const head = await c.latest();
        t.equal(
          head.treeSize,
          Math.max(h.treeSize, head.treeSize),
          `merged head of size ${h.treeSize}`,
        );
      }
      t.equal((await c.head())?.treeSize, d.treeSize);
    });

    t.test('lookup 404 and data tiles', async (t) => {
      const c = new SumdbClient({
        name: d.name,
        verifierKey: d.verifierKey,
        store: new MemorySumdbStore(),
        tileHeight: d.tileHeight,
        transport: serve([]),
      });
      t.equal(await codeOf(c.lookup('example.com/nonexistent', 'v1.0.0')), 'SUMDB_NOT_FOUND');
      let checked = 0;
      for (const f of d.files.filter((x) => x.path.includes('/data/'))) {
        const tile = parseTilePath(f.path.slice(1));
        const hashTile = await readFile(
          td('sumdb', fixture, 'files', ...f.path.slice(1).replace('/data/', '/0/').split('/')),
        );
        const texts = recordsFromDataTile(
          tile,
          await readFile(td('sumdb', fixture, 'files', ...f.path.slice(1).split('/'))),
          hashTile,
        );
        const first = tile.n * 2 ** tile.h;
        if (texts.every((x, i) => x === d.records[first + i]!.recordText)) checked++;
      }
      t.ok(checked > 0);
      t.equal(
        checked,
        d.files.filter((x) => x.path.includes('/data/')).length,
        `${checked} data tiles match their hash tiles and records`,
      );
    });
  });
}
