import t from 'tap';
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { makeModule, startFakeUpstream, type FakeModule } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { createHash } from 'node:crypto';
import { testdir } from '../helpers/testdir.js';

const ZIP = '/example.com/big/@v/v1.0.0.zip';

async function setup(t: Test, raw: Record<string, unknown> = {}) {
  // Large enough to be streamed in several chunks, and never held in memory (memoryMaxItemBytes: 0).
  const big = await makeModule('example.com/big', 'v1.0.0', {
    'big.txt': randomBytes(700_000).toString('base64'),
  });
  const up = await startFakeUpstream([big]);
  const dir = testdir(t);
  const audit = recordingAudit();
  const gw = await startTestGateway(
    dir,
    { upstream: up.url, cache: { memoryMaxItemBytes: 0 }, ...raw },
    { audit },
  );
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  const file = path.join(dir, 'store', 'cache', 'example.com', 'big', '@v', 'v1.0.0.zip');
  return { up, gw, dir, audit, big, file };
}

async function quarantined(dir: string): Promise<string[]> {
  const root = path.join(dir, 'store', 'quarantine');
  const out: string[] = [];
  for (const d of await readdir(root).catch(() => [] as string[]))
    for (const f of await readdir(path.join(root, d))) out.push(path.join(root, d, f));
  return out;
}

async function fetchOk(t: Test, url: string, want: FakeModule): Promise<void> {
  const res = await request(url);
  t.equal(res.statusCode, 200);
  t.ok(Buffer.from(await res.body.arrayBuffer()).equals(want.zip), 'the genuine bytes');
}

t.test(
  'a zip changed on disk after caching: download aborted, quarantined, refetched',
  async (t) => {
    const { up, gw, dir, audit, big, file } = await setup(t);
    await fetchOk(t, gw.url + ZIP, big);
    t.equal(up.count(ZIP), 1);
    // Same length, one byte changed near the end: only the stream's hash can tell.
    const bytes = await readFile(file);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    await writeFile(file, bytes);

    const res = await request(gw.url + ZIP);
    t.equal(res.statusCode, 200, 'headers went out before the mismatch was known');
    const length = Number(res.headers['content-length']);
    t.equal(length, big.zip.length);
    await t.rejects(res.body.arrayBuffer(), 'the client sees an aborted connection, not a body');

    const ev = audit.events.find((e) => e.event === 'CACHE_TAMPERED');
    t.ok(ev, 'a security event is recorded');
    t.match(ev?.details, { module: 'example.com/big', version: 'v1.0.0', kind: 'zip' });
    const q = await quarantined(dir);
    t.equal(q.length, 1, 'the changed bytes are quarantined');
    t.ok((await readFile(q[0]!)).equals(bytes), 'quarantine holds the changed bytes');
    t.equal(up.count(ZIP), 1, 'nothing was fetched meanwhile');

    await fetchOk(t, gw.url + ZIP, big);
    t.equal(up.count(ZIP), 2, 'the next request fetched it again');
    t.ok((await readFile(file)).equals(big.zip), 'the store holds the genuine bytes again');
  },
);

t.test('a zip of another length on disk is caught before any byte is sent', async (t) => {
  const { up, gw, dir, audit, big, file } = await setup(t);
  await fetchOk(t, gw.url + ZIP, big);
  await writeFile(file, Buffer.concat([await readFile(file), Buffer.from('extra')]));
  await fetchOk(t, gw.url + ZIP, big);
  t.equal(up.count(ZIP), 2, 'refetched instead of served');
  t.equal(audit.events.filter((e) => e.event === 'CACHE_TAMPERED').length, 1);
  t.equal((await quarantined(dir)).length, 1);
});

t.test('evidence edited to match tampered bytes fails its MAC: refetched', async (t) => {
  const { up, gw, audit, big, file } = await setup(t);
  await fetchOk(t, gw.url + ZIP, big);
  const evil = await makeModule('example.com/big', 'v1.0.0', { 'big.txt': 'backdoor' });
  const evFile = `${file}.evidence.json`;
  const sealed = JSON.parse(await readFile(evFile, 'utf8')) as { body: string; mac: string };
  const ev = JSON.parse(sealed.body) as { sha256: string; size: number };
  ev.sha256 = createHash('sha256').update(evil.zip).digest('hex');
  ev.size = evil.zip.length;
  await writeFile(evFile, JSON.stringify({ ...sealed, body: JSON.stringify(ev) }));
  await writeFile(file, evil.zip);

  // A fresh gateway on the same data: nothing is remembered in memory.
  await gw.close();
  const again = await startTestGateway(
    path.dirname(path.dirname(path.dirname(path.dirname(path.dirname(path.dirname(file)))))),
    { upstream: up.url, cache: { memoryMaxItemBytes: 0 } },
    { audit },
  );
  t.teardown(() => again.close());
  await fetchOk(t, again.url + ZIP, big);
  t.equal(up.count(ZIP), 2, 'the tampered entry was not served but fetched again');
  const sec = audit.events.find((e) => e.event === 'CACHE_TAMPERED');
  t.match(sec?.details, { reason: /not authenticated/ });
});

t.test('a range is served only after the whole file was checked', async (t) => {
  const { up, gw, audit, big, file } = await setup(t);
  await fetchOk(t, gw.url + ZIP, big);
  const ok = await request(gw.url + ZIP, { headers: { range: 'bytes=10-19' } });
  t.equal(ok.statusCode, 206);
  t.ok(Buffer.from(await ok.body.arrayBuffer()).equals(big.zip.subarray(10, 20)));
  const bytes = await readFile(file);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  await writeFile(file, bytes);
  const bad = await request(gw.url + ZIP, { headers: { range: 'bytes=10-19' } });
  t.equal(bad.statusCode, 503);
  t.match(await bad.body.text(), /^SECURITY ERROR: a cached artifact/);
  t.equal(audit.events.filter((e) => e.event === 'CACHE_TAMPERED').length, 1);
  await fetchOk(t, gw.url + ZIP, big);
  t.equal(up.count(ZIP), 2);
});

t.test('a cached .mod changed on disk is checked before sending', async (t) => {
  const { up, gw, audit, big, file } = await setup(t);
  const modUrl = `${gw.url}/example.com/big/@v/v1.0.0.mod`;
  t.equal((await request(modUrl)).statusCode, 200);
  const modFile = file.replace(/\.zip$/, '.mod');
  const evilMod = big.mod.replace('big', 'bad');
  t.equal(evilMod.length, big.mod.length);
  t.not(evilMod, big.mod);
  await writeFile(modFile, evilMod);
  const res = await request(modUrl);
  t.equal(res.statusCode, 200);
  t.equal(await res.body.text(), big.mod, 'the genuine go.mod, fetched again');
  t.equal(up.count('/v1.0.0.mod'), 2);
  t.equal(audit.events.filter((e) => e.event === 'CACHE_TAMPERED').length, 1);
});

t.test('a zip with bad deflate data is refused at once: not cached, recorded', async (t) => {
  const { up, gw, audit, big, file } = await setup(t);
  const name = Buffer.from('example.com/big@v1.0.0/big.txt');
  const bad = Buffer.from(big.zip);
  const at = bad.indexOf(name);
  const data = at + name.length + bad.readUInt16LE(at - 30 + 28);
  // 0xff: a final block of the reserved type, which every inflater rejects.
  bad.fill(0xff, data, data + 16);
  up.misbehave(ZIP, { kind: 'replace', body: bad });
  const res = await request(gw.url + ZIP);
  const body = await res.body.text();
  t.not(res.statusCode, 200, 'refused');
  t.match(body, /deflate|ZIP_INVALID|invalid/i, 'with the reason');
  await t.rejects(readFile(file), { code: 'ENOENT' }, 'nothing cached');
  t.ok(
    audit.decisions.some((d) => d.kind === 'zip' && d.codes.includes('ZIP_INVALID')),
    'the refusal is recorded',
  );
  up.misbehave(ZIP, null);
  await fetchOk(t, gw.url + ZIP, big);
});
