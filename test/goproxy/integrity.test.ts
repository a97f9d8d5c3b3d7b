import t from 'tap';
import type { Test } from 'tap';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import {
  makeModule,
  startFakeUpstream,
  type FakeModule,
  type FakeUpstream,
} from '../helpers/fake-upstream.js';
import { startFakeSumdb, type FakeSumdb } from '../helpers/fake-sumdb.js';
import { startTestGateway } from '../helpers/gateway.js';
import { hashGoMod } from '../../src/integrity/dirhash.js';
import { hashZipFile } from '../../src/integrity/zip.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Gateway } from '../../src/main.js';
import { testdir } from '../helpers/testdir.js';

async function h1Of(m: FakeModule): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'modgate-h1-'));
  const f = path.join(d, 'm.zip');
  await writeFile(f, m.zip);
  try {
    return await hashZipFile(f);
  } finally {
    await rm(d, { recursive: true, force: true });
  }
}

async function files(dir: string, sub: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else out.push(path.join(d, e.name));
    }
  };
  await walk(path.join(dir, 'store', sub));
  return out;
}

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

interface Env {
  up: FakeUpstream;
  db: FakeSumdb;
  gw: Gateway;
  dir: string;
  good: FakeModule;
}

async function setup(t: Test, raw: Record<string, unknown> = {}): Promise<Env> {
  const good = await makeModule('example.com/safe', 'v1.0.0', { 'safe.go': 'package safe\n' });
  const other = await makeModule('example.com/safe', 'v1.1.0', {
    'safe.go': 'package safe // 1.1\n',
  });
  const db = await startFakeSumdb({
    records: await Promise.all(
      [good, other].map(async (m) => ({
        path: m.path,
        version: m.version,
        h1: await h1Of(m),
        modH1: hashGoMod(m.mod),
      })),
    ),
  });
  const up = await startFakeUpstream([good, other]);
  const dir = testdir(t);
  const gw = await startTestGateway(dir, {
    upstream: up.url,
    sumdb: `${db.verifierKey} ${db.url}`,
    ...raw,
  });
  t.teardown(async () => {
    // close() aborts and awaits every background task, so nothing writes after it.
    await gw.close();
    await up.close();
    await db.stop();
  });
  return { up, db, gw, dir, good };
}

t.test('verified artifacts are served with their evidence', async (t) => {
  const { gw, dir } = await setup(t);
  const res = await get(`${gw.url}/example.com/safe/@v/v1.0.0.zip`);
  t.equal(res.status, 200);
  const evidence = (await files(dir, 'cache')).find((f) => f.endsWith('v1.0.0.zip.evidence.json'));
  t.ok(evidence, 'evidence stored beside the artifact');
  // The evidence is sealed with the state key: an envelope around the JSON body.
  const sealed = JSON.parse(await readFile(evidence!, 'utf8'));
  t.match(sealed.mac, /^[0-9a-f]{64}$/);
  const ev = JSON.parse(sealed.body);
  t.equal(ev.method, 'sumdb');
  t.match(ev.h1, /^h1:/);
  t.type(ev.sumdb.treeSize, 'number');
  t.type(ev.sumdb.recordId, 'number');
  t.match(ev.sumdb.rootHash, /=$/);
});

t.test(
  'a flipped byte in a zip is a SECURITY ERROR: 403, nothing cached, bytes quarantined',
  async (t) => {
    const { gw, up, dir, good } = await setup(t);
    const evil = await makeModule('example.com/safe', 'v1.0.0', {
      'safe.go': 'package safe // backdoor\n',
    });
    up.misbehave('/example.com/safe/@v/v1.0.0.zip', { kind: 'replace', body: evil.zip });
    const res = await get(`${gw.url}/example.com/safe/@v/v1.0.0.zip`);
    t.equal(res.status, 403);
    t.match(res.headers['content-type'], /^text\/plain; charset=utf-8/);
    t.match(
      res.text,
      /^SECURITY ERROR: checksum mismatch for example\.com\/safe@v1\.0\.0\nexpected .*h1:/,
    );
    t.equal(
      (await files(dir, 'cache')).filter((f) => f.endsWith('.zip')).length,
      0,
      'nothing cached',
    );
    t.equal((await files(dir, 'quarantine')).length, 1, 'bad bytes quarantined');
    t.ok(good.zip.length > 0);
  },
);

t.test('a swapped go.mod is refused', async (t) => {
  const { gw, up, dir } = await setup(t);
  up.misbehave('/example.com/safe/@v/v1.0.0.mod', {
    kind: 'replace',
    body: Buffer.from('module example.com/safe\n\nrequire evil.example/x v1.0.0\n'),
  });
  const res = await get(`${gw.url}/example.com/safe/@v/v1.0.0.mod`);
  t.equal(res.status, 403);
  t.match(res.text, /^SECURITY ERROR: checksum mismatch for example\.com\/safe@v1\.0\.0\/go\.mod/);
  t.equal((await files(dir, 'cache')).filter((f) => f.endsWith('.mod')).length, 0);
});

t.test('checksum database misbehaviour is refused with 502, never 404', async (t) => {
  for (const mode of ['wrong-key', 'tampered-record', 'tampered-tile', 'truncated-tile'] as const) {
    const { gw, db, dir } = await setup(t);
    await db.misbehave(mode);
    const res = await get(`${gw.url}/example.com/safe/@v/v1.0.0.zip`);
    t.ok(
      res.status === 502 || res.status === 403,
      `${mode}: ${res.status} ${res.text.split('\n')[0]}`,
    );
    t.match(res.text, /^(NOTE_|SUMDB_)/m, mode);
    t.equal(
      (await files(dir, 'cache')).filter((f) => f.endsWith('.zip')).length,
      0,
      `${mode}: nothing cached`,
    );
  }
});

t.test('a forked tree is refused and raised as an alarm', async (t) => {
  const { gw, db } = await setup(t);
  t.equal(
    (await get(`${gw.url}/example.com/safe/@v/v1.0.0.mod`)).status,
    200,
    'the honest head is remembered',
  );
  await db.misbehave('fork-grow');
  const res = await get(`${gw.url}/example.com/safe/@v/v1.1.0.zip`);
  t.equal(res.status, 502);
  t.match(res.text, /SUMDB_FORK/);
  const metrics = await get(`${gw.url}/metrics`);
  t.match(metrics.text, /modgate_security_events_total\{event="SUMDB_FORK"\} [1-9]/);
});

t.test('a module unknown to the checksum database is refused with 403', async (t) => {
  const { gw, up } = await setup(t);
  up.add(await makeModule('example.com/unknown', 'v1.0.0'));
  const res = await get(`${gw.url}/example.com/unknown/@v/v1.0.0.zip`);
  t.equal(res.status, 403);
  t.match(res.text, /SUMDB_NOT_FOUND/);
});

t.test('private modules: TOFU ledger, and a changed hash is a SECURITY ERROR', async (t) => {
  const { gw, up, db, dir } = await setup(t, { noSumdb: 'corp.example' });
  up.add(await makeModule('corp.example/lib', 'v1.0.0', { 'lib.go': 'package lib\n' }));
  const first = await get(`${gw.url}/corp.example/lib/@v/v1.0.0.zip`);
  t.equal(first.status, 200);
  t.notOk(
    db.requests.some((r) => r.includes('corp.example')),
    'no lookup of a private name',
  );
  const sumdbProxy = await get(`${gw.url}/sumdb/${db.name}/lookup/corp.example/lib@v1.0.0`);
  t.equal(sumdbProxy.status, 404, 'client lookups of private names are answered 404 locally');
  // A new gateway over the same data folder, facing a changed upstream zip.
  await gw.close();
  up.misbehave('/corp.example/lib/@v/v1.0.0.zip', {
    kind: 'replace',
    body: (await makeModule('corp.example/lib', 'v1.0.0', { 'lib.go': 'package lib // changed\n' }))
      .zip,
  });
  const dir2 = path.join(dir, 'other');
  const gw2 = await startTestGateway(dir2, {
    upstream: up.url,
    noSumdb: 'corp.example',
    sumdb: `${db.verifierKey} ${db.url}`,
  });
  t.teardown(() => gw2.close());
  t.equal(
    (await get(`${gw2.url}/corp.example/lib/@v/v1.0.0.zip`)).status,
    200,
    'a fresh ledger trusts on first use',
  );
  // The cache is lost (the ledger is not): a restart refetches, and the original bytes no longer match.
  await gw2.close();
  await rm(path.join(dir2, 'store', 'cache'), { recursive: true });
  up.misbehave('/corp.example/lib/@v/v1.0.0.zip', null);
  const gw3 = await startTestGateway(dir2, {
    upstream: up.url,
    noSumdb: 'corp.example',
    sumdb: `${db.verifierKey} ${db.url}`,
  });
  t.teardown(() => gw3.close());
  const changed = await get(`${gw3.url}/corp.example/lib/@v/v1.0.0.zip`);
  t.equal(changed.status, 403);
  t.match(changed.text, /^SECURITY ERROR: checksum mismatch.*\nexpected \(the local TOFU ledger\)/);
});
