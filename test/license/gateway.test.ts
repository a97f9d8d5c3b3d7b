/**
 * Licenses end to end: the gateway identifies the license of each verified
 * zip, records it in the audit trail (and so in the CycloneDX export), and
 * the shipped policy applies the allow list, the deny list and the unknown
 * condition.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { request } from 'undici';
import YAML from 'yaml';
import { buildCycloneDx } from '../../src/audit/cyclonedx.js';
import type { AuditRecord } from '../../src/audit/records.js';
import { readRecords } from '../../src/audit/query.js';
import type { Gateway } from '../../src/main.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { td } from '../helpers/testdata.js';
import { EvidenceStore, type StoredEvidence } from '../../src/goproxy/evidence.js';
import { artifactKey } from '../../src/goproxy/keys.js';
import { FsBlobStore } from '../../src/storage/fs.js';
import { StateSealer } from '../../src/storage/sealed.js';
import { testdir } from '../helpers/testdir.js';

async function setup(
  t: Test,
  data: Record<string, unknown>,
): Promise<{ gw: Gateway; dir: string }> {
  const bsd = await readFile(td('LICENSE-go'), 'utf8');
  const edited = bsd.replace('MERCHANTABILITY', 'MERCHANTIBILITY');
  const mit = await readFile(path.join('node_modules', 'fastify', 'LICENSE'), 'utf8');
  const up = await startFakeUpstream([
    await makeModule('example.com/bsd', 'v1.0.0', { LICENSE: bsd }),
    await makeModule('example.com/mit', 'v1.0.0', { 'LICENSE.md': mit }),
    await makeModule('example.com/edited', 'v1.0.0', { LICENSE: edited }),
    await makeModule('example.com/none', 'v1.0.0', { 'docs/LICENSE': mit }),
  ]);
  const dir = testdir(t);
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, YAML.stringify(data));
  const gw = await startTestGateway(path.join(dir, 'data'), {
    upstream: up.url,
    policy: { dataFile, budgetMs: 10_000 },
  });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  return { gw, dir };
}

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

t.test('allow list, deny list and unknown licenses', async (t) => {
  const { gw } = await setup(t, {
    licenses: { allow: ['BSD-3-Clause', 'Apache-2.0'], unknown: 'deny' },
  });
  t.equal((await get(`${gw.url}/example.com/bsd/@v/v1.0.0.zip`)).status, 200);
  const mit = await get(`${gw.url}/example.com/mit/@v/v1.0.0.zip`);
  t.equal(mit.status, 403);
  t.match(mit.text, /LICENSE_NOT_ALLOWED/);
  t.match(mit.text, /licensed MIT/);
  const edited = await get(`${gw.url}/example.com/edited/@v/v1.0.0.zip`);
  t.equal(edited.status, 403, 'an edited BSD text is not BSD-3-Clause');
  t.match(edited.text, /LICENSE_UNKNOWN/);
  const none = await get(`${gw.url}/example.com/none/@v/v1.0.0.zip`);
  t.equal(none.status, 403);
  t.match(none.text, /no license file at its root/);
});

t.test('a denied license; unknown warns when told to', async (t) => {
  const { gw } = await setup(t, { licenses: { deny: ['MIT'], unknown: 'warn' } });
  const mit = await get(`${gw.url}/example.com/mit/@v/v1.0.0.zip`);
  t.equal(mit.status, 403);
  t.match(mit.text, /LICENSE_DENIED/);
  const none = await get(`${gw.url}/example.com/none/@v/v1.0.0.zip`);
  t.equal(none.status, 200);
  t.match(String(none.headers['x-modgate-warning']), /LICENSE_UNKNOWN|no license file/);
});

t.test('the license is in the audit record and the CycloneDX export', async (t) => {
  const { gw, dir } = await setup(t, {});
  t.equal((await get(`${gw.url}/example.com/bsd/@v/v1.0.0.zip`)).status, 200);
  t.equal((await get(`${gw.url}/example.com/none/@v/v1.0.0.zip`)).status, 200);
  await gw.close();
  const records: AuditRecord[] = [];
  for await (const r of readRecords(path.join(dir, 'data', 'audit')))
    records.push(r as AuditRecord);
  const rec = records.find(
    (r) => r.type === 'decision' && r.module === 'example.com/bsd' && r.kind === 'zip',
  );
  t.same(rec && 'evidence' in rec ? rec.evidence?.licenses : undefined, {
    expression: 'BSD-3-Clause',
    unknown: false,
    files: [{ path: 'LICENSE', spdx: 'BSD-3-Clause' }],
  });
  async function* it() {
    yield* records;
  }
  const bom = await buildCycloneDx(it());
  const c = bom.components.find((x) => x.name === 'example.com/bsd');
  t.same(c?.licenses, [{ expression: 'BSD-3-Clause' }]);
  const n = bom.components.find((x) => x.name === 'example.com/none');
  t.same(n?.licenses, [{ license: { name: 'unknown (no license file)' } }]);
});

t.test('a zip cached before license scanning gets its licenses on the next hit', async (t) => {
  const bsd = await readFile(td('LICENSE-go'), 'utf8');
  const mod = await makeModule('example.com/old', 'v1.0.0', { LICENSE: bsd });
  const up = await startFakeUpstream([mod]);
  t.teardown(() => up.close());
  const dir = testdir(t);
  const dataDir = path.join(dir, 'data');
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, YAML.stringify({ licenses: { deny: ['BSD-3-Clause'] } }));
  const cfg = { upstream: up.url, policy: { dataFile, budgetMs: 10_000 } };
  // Cache the zip under a policy without license rules, then strip the licenses from its
  // evidence, as evidence written before license scanning has none.
  await writeFile(dataFile, YAML.stringify({}));
  const first = await startTestGateway(dataDir, cfg);
  t.equal((await get(`${first.url}/example.com/old/@v/v1.0.0.zip`)).status, 200);
  await first.close();
  const sealer = await StateSealer.loadOrCreate(path.join(dataDir, 'keys', 'state.key'));
  const evidence = new EvidenceStore(new FsBlobStore(path.join(dataDir, 'store')), sealer);
  const key = artifactKey('example.com/old', 'v1.0.0', 'zip');
  const want = { kind: 'zip' as const, module: 'example.com/old', version: 'v1.0.0' };
  const read = await evidence.read(key, want);
  t.equal(read.state, 'ok');
  const ev = (read as { evidence: StoredEvidence }).evidence;
  t.ok(ev.zip?.licenses, 'a new fetch scans');
  const { licenses: _dropped, ...zip } = ev.zip!;
  await evidence.write(key, { ...ev, zip });

  await writeFile(dataFile, YAML.stringify({ licenses: { deny: ['BSD-3-Clause'] } }));
  const zips = up.count('.zip');
  const gw = await startTestGateway(dataDir, cfg);
  const res = await get(`${gw.url}/example.com/old/@v/v1.0.0.zip`);
  t.equal(res.status, 403, 'the license rule applies to the cached zip');
  t.match(res.text, /LICENSE_DENIED: example\.com\/old@v1\.0\.0 is licensed BSD-3-Clause/);
  t.equal(up.count('.zip'), zips, 'read from the cached bytes, not fetched again');
  const after = await evidence.read(key, want);
  t.same(
    after.state === 'ok' ? after.evidence.zip?.licenses : undefined,
    {
      files: [{ path: 'LICENSE', spdx: 'BSD-3-Clause' }],
      expression: 'BSD-3-Clause',
      unknown: false,
    },
    'the evidence now keeps the licenses',
  );
  await gw.close();
  const records: AuditRecord[] = [];
  for await (const r of readRecords(path.join(dataDir, 'audit'))) records.push(r as AuditRecord);
  const denied = records.find(
    (r) => r.type === 'decision' && r.module === 'example.com/old' && r.decision === 'deny',
  );
  t.match(denied && 'evidence' in denied ? denied.evidence : undefined, {
    licenses: { expression: 'BSD-3-Clause' },
  });
});

t.test('a cached zip whose bytes changed is not scanned: it is tampered', async (t) => {
  const bsd = await readFile(td('LICENSE-go'), 'utf8');
  const up = await startFakeUpstream([
    await makeModule('example.com/old', 'v1.0.0', { LICENSE: bsd }),
  ]);
  t.teardown(() => up.close());
  const dir = testdir(t);
  const dataDir = path.join(dir, 'data');
  // memoryMaxItemBytes 1: the zip is checked while it is copied to be scanned, not in memory.
  const cfg = { upstream: up.url, cache: { memoryMaxItemBytes: 1 } };
  const first = await startTestGateway(dataDir, cfg);
  t.equal((await get(`${first.url}/example.com/old/@v/v1.0.0.zip`)).status, 200);
  await first.close();
  const store = new FsBlobStore(path.join(dataDir, 'store'));
  const sealer = await StateSealer.loadOrCreate(path.join(dataDir, 'keys', 'state.key'));
  const evidence = new EvidenceStore(store, sealer);
  const key = artifactKey('example.com/old', 'v1.0.0', 'zip');
  const want = { kind: 'zip' as const, module: 'example.com/old', version: 'v1.0.0' };
  const read = await evidence.read(key, want);
  const ev = (read as { evidence: StoredEvidence }).evidence;
  const { licenses: _dropped, ...zip } = ev.zip!;
  await evidence.write(key, { ...ev, zip });
  // Same length, other bytes: only the sha256 check can tell.
  const bytes = (await store.getBytes(key))!;
  bytes[bytes.length - 30] = bytes[bytes.length - 30]! ^ 0xff;
  await store.putBytes(key, bytes);

  const gw = await startTestGateway(dataDir, cfg);
  const zips = up.count('.zip');
  const res = await get(`${gw.url}/example.com/old/@v/v1.0.0.zip`);
  t.equal(res.status, 200, 'fetched again and verified');
  t.equal(up.count('.zip'), zips + 1, 'the changed copy was discarded');
  await gw.close();
  const records: AuditRecord[] = [];
  for await (const r of readRecords(path.join(dataDir, 'audit'))) records.push(r as AuditRecord);
  t.ok(
    records.some((r) => r.type === 'security' && JSON.stringify(r).includes('CACHE_TAMPERED')),
    'the tampering is in the audit trail',
  );
});
