import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { startFakeSumdb, type FakeRecord, type FakeSumdb } from '../helpers/fake-sumdb.js';
import { startTestGateway } from '../helpers/gateway.js';
import { readRecords } from '../../src/audit/query.js';
import type { AuditRecord } from '../../src/audit/records.js';
import { parseRelayPath } from '../../src/goproxy/sumdb-relay.js';
import { openNote, parseVerifierKey } from '../../src/integrity/note.js';
import { parseRecord, parseTree } from '../../src/integrity/tlog.js';
import type { Gateway } from '../../src/main.js';
import { testdir } from '../helpers/testdir.js';

const h1 = (s: string): string => `h1:${createHash('sha256').update(s).digest('base64')}`;
const records = (n: number): FakeRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    path: `example.com/m${i}`,
    version: 'v1.0.0',
    h1: h1(`zip${i}`),
    modH1: h1(`mod${i}`),
  }));

interface Rig {
  db: FakeSumdb;
  gw: Gateway;
  dataDir: string;
  get(p: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }>;
  /** Closes the gateway and returns its audit trail. */
  trail(): Promise<AuditRecord[]>;
  /** Files under data/sumdb (verified heads and tiles). */
  stored(): Promise<string[]>;
}

async function rig(t: Test, n = 300): Promise<Rig> {
  const db = await startFakeSumdb({ records: records(n) });
  const dataDir = path.join(testdir(t), 'data');
  const gw = await startTestGateway(dataDir, {
    sumdb: `${db.verifierKey} ${db.url}`,
    private: 'corp.example',
    cache: { sumdbLatestTtlSeconds: 0 },
  });
  let closed = false;
  t.teardown(async () => {
    if (!closed) await gw.close();
    await db.stop();
  });
  return {
    db,
    gw,
    dataDir,
    async get(p) {
      const res = await gw.app.inject({ method: 'GET', url: p });
      return { status: res.statusCode, body: res.body, headers: res.headers };
    },
    async trail() {
      if (!closed) await gw.close();
      closed = true;
      const out: AuditRecord[] = [];
      for await (const r of readRecords(path.join(dataDir, 'audit'))) out.push(r);
      return out;
    },
    async stored() {
      const dir = path.join(dataDir, 'sumdb');
      const files = await readdir(dir, { recursive: true }).catch(() => []);
      return files.map(String).sort();
    },
  };
}

const accessOf = (trail: AuditRecord[], p: string): AuditRecord[] =>
  trail.filter((r) => r.type === 'access' && (r as { path?: string }).path === p);

t.test('parseRelayPath accepts the protocol and nothing else', async (t) => {
  t.same(parseRelayPath('supported', 8), { op: 'supported' });
  t.same(parseRelayPath('latest', 8), { op: 'latest' });
  t.same(parseRelayPath('lookup/github.com/!big!corp/x@v1.2.3', 8), {
    op: 'lookup',
    module: 'github.com/BigCorp/x',
    version: 'v1.2.3',
  });
  t.match(parseRelayPath('lookup/example.com/legacy@v2.1.0+incompatible', 8), {
    version: 'v2.1.0+incompatible',
  });
  t.match(parseRelayPath('tile/8/0/x001/234.p/5', 8), {
    op: 'tile',
    tile: { h: 8, l: 0, n: 1234, w: 5 },
  });
  t.match(parseRelayPath('tile/8/data/000', 8), { tile: { l: -1, w: 256 } });
  const bad = [
    '',
    'latest/',
    'supported/x',
    'lookup/example.com/m@v1',
    'lookup/example.com/m@v1.0.0/go.mod',
    'lookup/example.com/m@master',
    'lookup/example.com/m',
    'lookup/../etc/passwd@v1.0.0',
    'lookup/example.com/../x@v1.0.0',
    'lookup/example.com/m@v1.0.0%00',
    'lookup/Example.com/m@v1.0.0',
    'lookup/example.com/m/v2@v1.0.0',
    'tile/8/0/1',
    'tile/8/0/0001',
    'tile/8/0/x1/000',
    'tile/8/0/000.p/0',
    'tile/8/0/000.p/256',
    'tile/8/64/000',
    'tile/0/0/000',
    'tile/31/0/000',
    'tile/4/0/000',
    'tile/8/-1/000',
    'tile/8/0/../../latest',
    'tile/8/0/000/',
    'tiles/8/0/000',
    '../latest',
    'lookup\\x@v1.0.0',
    'x'.repeat(3000),
  ];
  for (const p of bad)
    t.throws(() => parseRelayPath(p, 8), { code: 'REQUEST_INVALID' }, p.slice(0, 60));
});

t.test('the relay serves verified answers that a verifying client accepts', async (t) => {
  const r = await rig(t);
  const base = `/sumdb/${r.db.name}`;
  const supported = await r.get(`${base}/supported`);
  t.equal(supported.status, 200);
  t.equal(r.db.requests.length, 0, 'supported is answered locally');

  const lookup = await r.get(`${base}/lookup/example.com/m7@v1.0.0`);
  t.equal(lookup.status, 200, lookup.body);
  const rec = parseRecord(Buffer.from(lookup.body));
  t.equal(
    rec.text,
    `example.com/m7 v1.0.0 ${h1('zip7')}\nexample.com/m7 v1.0.0/go.mod ${h1('mod7')}\n`,
  );
  const tree = parseTree(openNote(rec.rest, [parseVerifierKey(r.db.verifierKey)]).text);
  t.equal(tree.n, 300, 'served with a head that verifies under the key');

  const latest = await r.get(`${base}/latest`);
  t.equal(latest.status, 200);
  t.equal(
    parseTree(openNote(Buffer.from(latest.body), [parseVerifierKey(r.db.verifierKey)]).text).n,
    300,
  );

  for (const p of ['tile/8/0/000', 'tile/8/0/001.p/44', 'tile/8/1/000.p/1', 'tile/8/data/000']) {
    const got = await r.gw.app.inject({ method: 'GET', url: `${base}/${p}` });
    t.equal(got.statusCode, 200, p);
    const want = await r.db.handle(`/${p}`);
    t.ok(got.rawPayload.equals(want.body), `${p} equals the database's own tile`);
    t.match(
      got.headers['cache-control'],
      p.includes('.p/') ? /max-age=0/ : /immutable/,
      `${p} cache-control`,
    );
  }
  const beyond = await r.get(`${base}/tile/8/0/002`);
  t.equal(beyond.status, 404, 'a tile beyond the verified tree is not relayed');
  t.ok((await r.stored()).some((f) => f.endsWith(path.join('tile', '8', 'data', '000'))));
  const trail = await r.trail();
  const rec7 = accessOf(trail, `${base}/lookup/example.com/m7@v1.0.0`);
  t.equal(rec7.length, 1);
  t.match(rec7[0], { kind: 'sumdb', status: 200, module: 'example.com/m7', version: 'v1.0.0' });
});

t.test(
  'junk, traversal, unconfigured names and private lookups never reach the database',
  async (t) => {
    const r = await rig(t, 3);
    const base = `/sumdb/${r.db.name}`;
    const cases: Array<[string, number, string]> = [
      [`${base}/tile/8/0/../../latest`, 400, 'REQUEST_INVALID'],
      [`${base}/tile/8/0/%2e%2e/%2e%2e/latest`, 400, 'REQUEST_INVALID'],
      [`${base}/lookup/example.com/..%2f..%2fx@v1.0.0`, 400, 'REQUEST_INVALID'],
      [`${base}/lookup/example.com/m@latest`, 400, 'REQUEST_INVALID'],
      [`${base}/lookup/example.com/m0@v1.0.0?x=1#y`, 400, 'REQUEST_INVALID'],
      [`${base}/tile/30/0/000`, 400, 'REQUEST_INVALID'],
      [`${base}/tile/8/0/000.p/999`, 400, 'REQUEST_INVALID'],
      [`${base}/admin`, 400, 'REQUEST_INVALID'],
      [`${base}/`, 400, 'REQUEST_INVALID'],
      [`/sumdb/sum.golang.org/latest`, 404, 'NOT_FOUND'],
      [`/sumdb/${r.db.name}.evil/latest`, 404, 'NOT_FOUND'],
      // Normalised to /<name>/latest: not a relay path, and not a module path either.
      [`/sumdb/../${r.db.name}/latest`, 400, 'REQUEST_INVALID'],
      [`${base}/lookup/corp.example/secret@v1.0.0`, 404, 'PRIVATE_LOOKUP_REFUSED'],
      [`${base}/lookup/corp.example/a/b@v1.2.3`, 404, 'PRIVATE_LOOKUP_REFUSED'],
    ];
    for (const [p, status, code] of cases) {
      const res = await r.get(p);
      t.equal(res.status, status, p);
      t.match(res.body, new RegExp(`^${code}: `), p);
    }
    t.same(r.db.requests, [], 'the database saw no request');
    t.same(await r.stored(), [], 'nothing was cached');
    const trail = await r.trail();
    const access = trail.filter((x) => x.type === 'access');
    t.equal(access.length, cases.length, 'every refusal has its access record');
    for (const [, status, code] of cases)
      t.ok(
        access.some((a) => a.type === 'access' && a.status === status && a.code === code),
        code,
      );
    t.match(
      access.find((a) => a.type === 'access' && a.code === 'PRIVATE_LOOKUP_REFUSED'),
      { kind: 'sumdb', module: 'corp.example/secret', version: 'v1.0.0' },
      'the local trail names the refused private lookup',
    );
  },
);

t.test('a forged lookup (bad signature) is refused, alarmed and not cached', async (t) => {
  const r = await rig(t, 5);
  await r.db.misbehave('wrong-key');
  const res = await r.get(`/sumdb/${r.db.name}/lookup/example.com/m1@v1.0.0`);
  t.equal(res.status, 502);
  t.match(res.body, /^NOTE_/);
  t.same(await r.stored(), [], 'no head and no tile stored');
  const trail = await r.trail();
  t.match(accessOf(trail, `/sumdb/${r.db.name}/lookup/example.com/m1@v1.0.0`), [
    { status: 502, code: /^NOTE_/ },
  ]);
  t.ok(trail.some((x) => x.type === 'security' && x.event === 'SUMDB_BAD_SIGNATURE'));
});

t.test('a lookup whose record is not in the tree is refused and not cached', async (t) => {
  const r = await rig(t, 5);
  await r.db.misbehave('tampered-record');
  const p = `/sumdb/${r.db.name}/lookup/example.com/m2@v1.0.0`;
  const res = await r.get(p);
  t.equal(res.status, 502);
  t.match(res.body, /^SUMDB_BAD_PROOF: /);
  t.notOk(
    (await r.stored()).some((f) => f.includes('data')),
    'no data tile stored',
  );
  const trail = await r.trail();
  t.match(accessOf(trail, p), [{ status: 502, code: 'SUMDB_BAD_PROOF' }]);
  t.ok(trail.some((x) => x.type === 'security' && x.event === 'SUMDB_BAD_PROOF'));
});

t.test(
  'a tile whose hashes do not match the verified head is refused and not cached',
  async (t) => {
    const r = await rig(t, 300);
    const base = `/sumdb/${r.db.name}`;
    t.equal((await r.get(`${base}/latest`)).status, 200, 'an honest head first');
    await r.db.misbehave('tampered-tile');
    for (const p of ['tile/8/0/000', 'tile/8/0/001.p/44', 'tile/8/1/000.p/1']) {
      const res = await r.get(`${base}/${p}`);
      t.equal(res.status, 502, p);
      t.match(res.body, /^SUMDB_BAD_TILE: /, p);
    }
    await r.db.misbehave('none');
    const stored = await r.stored();
    t.notOk(
      stored.some((f) => f.includes(`${path.sep}tile${path.sep}`)),
      `no tile stored: ${stored}`,
    );
    const trail = await r.trail();
    t.match(accessOf(trail, `${base}/tile/8/0/000`), [{ status: 502, code: 'SUMDB_BAD_TILE' }]);
    t.ok(trail.some((x) => x.type === 'security' && x.event === 'SUMDB_BAD_TILE'));
  },
);

t.test(
  'a forked /latest raises the alarm; once evidence is recorded nothing is served',
  async (t) => {
    const r = await rig(t, 20);
    const base = `/sumdb/${r.db.name}`;
    const honest = await r.get(`${base}/latest`);
    t.equal(honest.status, 200);
    await r.db.misbehave('fork');
    const forked = await r.get(`${base}/latest`);
    t.equal(forked.status, 200);
    t.equal(forked.body, honest.body, 'the stored, verified head is served');
    t.match(forked.headers['x-modgate-stale'], /SUMDB_FORK/);
    const grown = await r.db.misbehave('fork-grow').then(() => r.get(`${base}/latest`));
    t.not(grown.body, honest.body, 'a larger inconsistent tree is not served either');
    t.equal(grown.status, 502, 'the recorded fork stops the relay');
    t.match(grown.body, /^SUMDB_FORK: SECURITY ERROR/);
    const evidence = (await r.stored()).filter((f) => f.includes('evidence'));
    t.ok(evidence.length >= 1, 'fork evidence saved');
    const again = await r.get(`${base}/latest`);
    t.equal(again.status, 502, 'and keeps it stopped');
    const trail = await r.trail();
    t.ok(
      trail.some((x) => x.type === 'security' && x.event === 'SUMDB_FORK'),
      'fork alarm audited',
    );
    t.match(accessOf(trail, `${base}/latest`).at(-1), { status: 502, kind: 'sumdb' });
  },
);

t.test('a forged /latest without a stored head is refused', async (t) => {
  const r = await rig(t, 4);
  await r.db.misbehave('wrong-key');
  const res = await r.get(`/sumdb/${r.db.name}/latest`);
  t.equal(res.status, 502);
  t.same(await r.stored(), []);
});
