import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { startRelay } from '../../bench/realworld/relay.js';
import { startReplay } from '../../bench/realworld/replay.js';
import { zipSet } from '../../bench/realworld/project.js';
import type { Manifest } from '../../bench/realworld/store.js';
import { testdir } from '../helpers/testdir.js';

const HEAD = 'go.sum database tree\n10\nAAAA\n\n— sum.golang.org SIG1\n';
const RECORD = '5\nexample.com/a v1.0.0 h1:x=\nexample.com/a v1.0.0/go.mod h1:y=\n\n';
const ZIP = randomBytes(512 * 1024);

/** A stand-in for the real upstream: a live head that differs from the one inside lookups. */
async function upstream(): Promise<{ url: string; hits: Map<string, number>; close(): void }> {
  const hits = new Map<string, number>();
  const bodies: Record<string, string | Buffer> = {
    '/sumdb/sum.golang.org/latest': HEAD,
    '/sumdb/sum.golang.org/lookup/example.com/a@v1.0.0': `${RECORD}go.sum database tree\n12\nBBBB\n\n— sum.golang.org SIG2\n`,
    '/sumdb/sum.golang.org/lookup/example.com/new@v1.0.0': `11\nexample.com/new v1.0.0 h1:z=\n\n${HEAD}`,
    '/example.com/a/@v/v1.0.0.zip': ZIP,
    '/example.com/!b/@v/list': 'v1.0.0\n',
  };
  const srv = http.createServer((req, res) => {
    const p = req.url ?? '/';
    hits.set(p, (hits.get(p) ?? 0) + 1);
    const body = bodies[p];
    if (body === undefined) return void res.writeHead(404).end('not found\n');
    res.writeHead(200).end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    hits,
    close: () => srv.close(),
  };
}

async function get(url: string): Promise<{ status: number; body: Buffer }> {
  const res = await request(url);
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

t.test('the relay records each path once, every lookup with the one head it fetched', async (t) => {
  const up = await upstream();
  t.teardown(up.close);
  const dir = testdir(t);
  const relay = await startRelay(dir, up.url);
  const lookup = '/sumdb/sum.golang.org/lookup/example.com/a@v1.0.0';
  for (let i = 0; i < 2; i++) {
    const r = await get(relay.url + lookup);
    t.equal(r.status, 200);
    t.equal(
      r.body.toString(),
      RECORD + HEAD,
      'the record with the recorded head, not the live one',
    );
  }
  t.equal(up.hits.get(lookup), 1);
  t.equal(up.hits.get('/sumdb/sum.golang.org/latest'), 1);

  const beyond = await get(`${relay.url}/sumdb/sum.golang.org/lookup/example.com/new@v1.0.0`);
  t.equal(beyond.status, 502, 'a record the recorded tree does not hold is refused');
  t.notOk(relay.answers.has('/sumdb/sum.golang.org/lookup/example.com/new@v1.0.0'));

  t.equal((await get(`${relay.url}/example.com/%21b/@v/list`)).status, 200);
  t.equal((await get(`${relay.url}/example.com/!b/@v/list`)).body.toString(), 'v1.0.0\n');
  t.equal(up.hits.get('/example.com/!b/@v/list'), 1, '"%21" and "!" are one recording');

  t.equal((await get(`${relay.url}/example.com/gone/@v/list`)).status, 404);
  t.equal((await get(`${relay.url}/example.com/gone/@v/list`)).status, 404);
  t.equal(up.hits.get('/example.com/gone/@v/list'), 1, 'a 404 is an answer and is recorded');
  await relay.close();

  const resumed = await startRelay(dir, up.url);
  t.equal((await get(resumed.url + lookup)).body.toString(), RECORD + HEAD);
  t.equal(up.hits.get(lookup), 1, 'a new relay on the folder resumes from its journal');
  await resumed.close();
});

t.test('the replay serves the recording through one shared link', async (t) => {
  const up = await upstream();
  t.teardown(up.close);
  const dir = testdir(t);
  const relay = await startRelay(dir, up.url);
  const zip = '/example.com/a/@v/v1.0.0.zip';
  t.equal((await get(relay.url + zip)).status, 200);
  await relay.close();
  const manifest: Manifest = {
    module: 'example.com/a',
    version: 'v1.0.0',
    recorded: new Date().toISOString(),
    head: HEAD,
    set: [],
    answers: Object.fromEntries(relay.answers),
  };
  // 4 Mbit/s: one 512 KiB zip takes at least ~1 s on the link, two at once at least ~2 s together.
  const replay = await startReplay(dir, manifest, { bitsPerSecond: 4e6, rttMs: 0 });
  t.teardown(() => replay.close());
  const t0 = performance.now();
  const [a, b] = await Promise.all([get(replay.url + zip), get(replay.url + zip)]);
  const seconds = (performance.now() - t0) / 1000;
  t.ok(a.body.equals(ZIP) && b.body.equals(ZIP), 'the recorded bytes');
  t.ok(seconds >= 1.9, `two transfers share the link (${seconds.toFixed(2)} s)`);
  const missing = await get(`${replay.url}/example.com/other/@v/list`);
  t.equal(missing.status, 404);
  t.ok(replay.misses.has('/example.com/other/@v/list'), 'a path outside the recording is counted');
});

t.test('the module set is the go.sum lines with a zip hash, once each', async (t) => {
  const sum = [
    'example.com/a v1.0.0 h1:x=',
    'example.com/a v1.0.0/go.mod h1:y=',
    'example.com/b v1.1.0/go.mod h1:z=',
    'example.com/a v1.0.0 h1:x=',
    '',
  ].join('\n');
  t.same(zipSet(sum), [{ path: 'example.com/a', version: 'v1.0.0' }]);
});
