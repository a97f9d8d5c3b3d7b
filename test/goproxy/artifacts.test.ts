import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { ArtifactService, type ArtifactDeps } from '../../src/goproxy/artifacts.js';
import { FetchCap } from '../../src/goproxy/fetch-cap.js';
import { artifactKey } from '../../src/goproxy/keys.js';
import { upstreamPath } from '../../src/goproxy/paths.js';
import { Router } from '../../src/goproxy/router.js';
import { ChecksumVerifier, type SumdbLookup } from '../../src/integrity/checksums.js';
import { hashGoMod } from '../../src/integrity/dirhash.js';
import { FsBlobStore } from '../../src/storage/fs.js';
import { StateSealer } from '../../src/storage/sealed.js';
import type { TofuLedger } from '../../src/integrity/checksums.js';
import type { UpstreamClient, UpstreamResponse } from '../../src/upstream/client.js';
import { makeModule } from '../helpers/fake-upstream.js';
import { testdir } from '../helpers/testdir.js';

const UPSTREAM = 'https://upstream.test';
const M = 'example.com/m';
const V = 'v1.0.0';
const EVIDENCE = { treeSize: 42, rootHash: 'root', recordId: 7 };

/** An upstream serving bytes from memory; `hold` keeps answers back until released. */
function fakeClient(files: Map<string, Buffer>) {
  const calls: string[] = [];
  let hold: Promise<void> | null = null;
  let release = (): void => {};
  let arrived = (): void => {};
  const first = new Promise<void>((r) => (arrived = r));
  const client: Pick<UpstreamClient, 'get'> = {
    async get(url, path) {
      calls.push(`${url}${path}`);
      arrived();
      if (hold) await hold;
      const bytes = files.get(path);
      const body = Object.assign(Readable.from(bytes ? [bytes] : []), {
        dump: async () => undefined,
      });
      return {
        upstream: url,
        status: bytes ? 200 : 404,
        headers: {},
        body: body as unknown as UpstreamResponse['body'],
      };
    },
  };
  return {
    client: client as UpstreamClient,
    calls,
    first,
    holdAnswers() {
      hold = new Promise<void>((r) => (release = r));
    },
    release: () => release(),
  };
}

/** A store that reports how many stat calls have finished, to know when callers got past their cache check. */
class CountingStore extends FsBlobStore {
  stats = 0;
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  override async stat(key: string) {
    const r = await super.stat(key);
    this.stats++;
    this.waiters = this.waiters.filter((w) => (w.n <= this.stats ? (w.resolve(), false) : true));
    return r;
  }
  statsDone(n: number): Promise<void> {
    if (this.stats >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

const noTofu: TofuLedger = {
  async get() {
    throw new Error('the TOFU ledger must not be used for a public module');
  },
  async remember() {
    throw new Error('the TOFU ledger must not be used for a public module');
  },
};

async function setup(t: Test, opts: { modH1?: string } = {}) {
  const mod = await makeModule(M, V);
  const files = new Map<string, Buffer>([
    [upstreamPath({ kind: 'mod', module: M, version: V }), Buffer.from(mod.mod)],
    [upstreamPath({ kind: 'info', module: M, version: V }), Buffer.from(mod.info)],
  ]);
  const up = fakeClient(files);
  const lookups: string[] = [];
  const modH1 = opts.modH1 ?? hashGoMod(mod.mod);
  const sumdb: SumdbLookup = {
    name: 'sum.golang.org',
    async lookup(m, v) {
      lookups.push(`${m}@${v}`);
      return { lines: [`${m} ${v}/go.mod ${modH1}`], evidence: EVIDENCE };
    },
  };
  const router = new Router({
    publicUpstream: UPSTREAM,
    routes: [],
    privatePatterns: '',
    noSumdbPatterns: '',
  });
  const store = new CountingStore(testdir(t));
  const security: Array<{ event: string; details: Record<string, unknown> }> = [];
  const deps: ArtifactDeps = {
    store,
    spoolDir: path.join(testdir(t), 'spool'),
    client: up.client,
    router,
    checksums: new ChecksumVerifier({
      sumdb,
      tofu: noTofu,
      isPrivate: (m) => router.skipsSumdb(m),
    }),
    sealer: StateSealer.fromKey(randomBytes(32)),
    cap: new FetchCap({ concurrent: 4, queue: 16, retryAfterSeconds: 1 }),
    limits: { zipBytes: 1 << 20, modBytes: 1 << 16, infoBytes: 1 << 12 },
    memory: { bytes: 1 << 20, maxItemBytes: 1 << 16 },
    onSecurity: async (event, details) => {
      security.push({ event, details });
    },
  };
  const artifacts = new ArtifactService(deps);
  t.teardown(() => artifacts.close());
  return { mod, up, lookups, store, security, artifacts, deps };
}

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}

t.test('a cold .mod is verified, cached, and the second get is a hit', async (t) => {
  const { mod, up, lookups, store, artifacts } = await setup(t);
  const first = await artifacts.get(M, V, 'mod');
  t.equal(first.cache, 'miss');
  t.match(first.evidence, {
    method: 'sumdb',
    h1: hashGoMod(mod.mod),
    kind: 'mod',
    module: M,
    version: V,
    upstream: UPSTREAM,
    size: Buffer.byteLength(mod.mod),
  });
  t.same(up.calls, [`${UPSTREAM}${upstreamPath({ kind: 'mod', module: M, version: V })}`]);
  t.same(lookups, [`${M}@${V}`]);
  t.ok(await store.stat(artifactKey(M, V, 'mod')), 'the verified .mod is in the store');

  const second = await artifacts.get(M, V, 'mod');
  t.equal(second.cache, 'hit');
  t.equal(up.calls.length, 1, 'no new upstream call');
  t.equal(lookups.length, 1, 'no new checksum lookup');
  t.equal(second.body?.toString('utf8'), mod.mod);
});

t.test('a hit opens exactly the verified bytes, whole and by range', async (t) => {
  const { mod, artifacts } = await setup(t);
  const want = Buffer.from(mod.mod);
  await artifacts.get(M, V, 'mod');
  const hit = await artifacts.get(M, V, 'mod');
  t.equal(hit.cache, 'hit');
  t.ok(hit.body?.equals(want), 'body is the exact bytes');
  t.equal(hit.info.size, want.length);
  t.ok((await readAll(await hit.open())).equals(want), 'open() streams the exact bytes');
  const part = await readAll(await hit.open({ start: 2, end: 5 }));
  t.ok(part.equals(want.subarray(2, 6)), 'a range is the exact slice');
});

t.test('a hit read back from disk by a new service is checked and exact', async (t) => {
  const a = await setup(t);
  await a.artifacts.get(M, V, 'mod');
  // A fresh service has nothing in memory: the hit comes from the store and its sealed evidence.
  const again = new ArtifactService(a.deps);
  t.teardown(() => again.close());
  const hit = await again.get(M, V, 'mod');
  t.equal(hit.cache, 'hit');
  t.ok((await readAll(await hit.open())).equals(Buffer.from(a.mod.mod)));
  t.equal(a.up.calls.length, 1, 'the disk hit made no upstream call');
});

t.test('a .mod whose h1 differs from the checksum record is refused and not cached', async (t) => {
  const { up, store, security, artifacts } = await setup(t, {
    modH1: 'h1:otherotherotherotherotherotherotherotherothe=',
  });
  await t.rejects(artifacts.get(M, V, 'mod'), {
    code: 'CHECKSUM_MISMATCH',
    details: { expected: 'h1:otherotherotherotherotherotherotherotherothe=', kind: 'mod' },
  });
  t.equal(await store.stat(artifactKey(M, V, 'mod')), null, 'nothing cached under the key');
  t.equal(await artifacts.peek({ kind: 'mod', module: M, version: V }), null);
  t.equal(security.length, 1);
  t.equal(security[0]!.event, 'CHECKSUM_MISMATCH');
  t.match(security[0]!.details, { quarantine: /^quarantine\// });
  // A retry is refused again: the refusal was not remembered as a success.
  await t.rejects(artifacts.get(M, V, 'mod'), { code: 'CHECKSUM_MISMATCH' });
  t.equal(up.calls.length, 2, 'each attempt went upstream: nothing was served from cache');
});

t.test('concurrent gets of one artifact make one upstream call', async (t) => {
  const { mod, up, store, artifacts } = await setup(t);
  const N = 5;
  up.holdAnswers();
  const gets = Array.from({ length: N }, () => artifacts.get(M, V, 'mod'));
  await up.first;
  // Every caller's cache check (N peeks plus the flight's own) has finished: all wait on the flight.
  await store.statsDone(N + 1);
  t.equal(artifacts.inflight, 1);
  up.release();
  const hits = await Promise.all(gets);
  t.equal(up.calls.length, 1, 'one upstream call');
  t.same(
    hits.map((h) => h.cache),
    Array.from({ length: N }, () => 'miss'),
    'every caller shared the one download',
  );
  for (const h of hits) t.equal(h.body?.toString('utf8'), mod.mod);
  t.equal(artifacts.inflight, 0);
});
