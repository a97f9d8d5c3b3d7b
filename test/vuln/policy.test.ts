/**
 * Vulnerability rules end to end: a gateway with a vulnerability database
 * (local folder) and the shipped policy refuses affected zips with a 403
 * naming the ids and the fixed version, hides affected versions from
 * @v/list and @latest, honours waivers by id, allows versions matched only by
 * withdrawn entries, and fails closed before a copy is held.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { request } from 'undici';
import YAML from 'yaml';
import type { Gateway } from '../../src/main.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { dbFiles, type EntrySpec } from './helpers/db.js';
import { testdir } from '../helpers/testdir.js';

const entries: EntrySpec[] = [
  {
    id: 'GO-2026-0002',
    aliases: ['CVE-2026-2222'],
    summary: 'Old parser overflows',
    affected: [{ module: 'example.com/lib', ranges: [[{ introduced: '0' }, { fixed: '1.1.0' }]] }],
  },
  {
    id: 'GO-2026-0003',
    summary: 'New regression',
    affected: [{ module: 'example.com/lib', ranges: [[{ introduced: '1.2.0' }]] }],
  },
  {
    id: 'GO-2026-0004',
    withdrawn: '2026-01-01T00:00:00Z',
    affected: [{ module: 'example.com/other', ranges: [[{ introduced: '0' }]] }],
  },
];

async function setup(
  t: Test,
  data: Record<string, unknown> = {},
  opts: { load?: boolean; mode?: 'enforce' | 'dry-run' } = {},
): Promise<{ gw: Gateway; audit: ReturnType<typeof recordingAudit> }> {
  const up = await startFakeUpstream([
    await makeModule('example.com/lib', 'v1.0.0'),
    await makeModule('example.com/lib', 'v1.1.0'),
    await makeModule('example.com/lib', 'v1.2.0'),
    await makeModule('example.com/other', 'v1.0.0'),
  ]);
  const dir = testdir(t);
  const db = path.join(dir, 'vulndb');
  for (const [p, b] of dbFiles(entries)) {
    await mkdir(path.dirname(path.join(db, p)), { recursive: true });
    if (opts.load !== false) await writeFile(path.join(db, p), b);
  }
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, YAML.stringify(data));
  const audit = recordingAudit();
  const gw = await startTestGateway(
    path.join(dir, 'data'),
    {
      upstream: up.url,
      policy: { dataFile, budgetMs: 10_000, ...(opts.mode ? { mode: opts.mode } : {}) },
      vulndb: { enabled: true, source: db },
    },
    { audit },
  );
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  if (opts.load !== false) await gw.vulndb!.sync();
  return { gw, audit };
}

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

t.test('an affected zip is refused naming the ids and the fixed version', async (t) => {
  const { gw, audit } = await setup(t);
  const r = await get(`${gw.url}/example.com/lib/@v/v1.0.0.zip`);
  t.equal(r.status, 403);
  t.match(r.text, /VULNERABLE/);
  t.match(r.text, /GO-2026-0002/);
  t.match(r.text, /CVE-2026-2222/);
  t.match(r.text, /fixed in v1\.1\.0/);
  const rec = audit.decisions.find((d) => d.kind === 'zip' && d.version === 'v1.0.0');
  t.equal(rec?.decision, 'deny');
  t.ok(rec?.codes.includes('VULNERABLE'), 'the audit record carries the code');
  const unfixed = await get(`${gw.url}/example.com/lib/@v/v1.2.0.zip`);
  t.equal(unfixed.status, 403);
  t.match(unfixed.text, /GO-2026-0003.*no fixed version/);
  t.equal(
    (await get(`${gw.url}/example.com/lib/@v/v1.1.0.zip`)).status,
    200,
    'the fixed version is served',
  );
  t.equal(
    (await get(`${gw.url}/example.com/lib/@v/v1.0.0.mod`)).status,
    200,
    '.mod stays readable for version selection',
  );
});

t.test('affected versions leave @v/list and @latest', async (t) => {
  const { gw } = await setup(t);
  t.equal((await get(`${gw.url}/example.com/lib/@v/list`)).text, 'v1.1.0\n');
  t.equal(JSON.parse((await get(`${gw.url}/example.com/lib/@latest`)).text).Version, 'v1.1.0');
});

t.test('hideAffected: false keeps lists whole', async (t) => {
  const { gw } = await setup(t, { vulnerabilities: { hideAffected: false } });
  t.equal((await get(`${gw.url}/example.com/lib/@v/list`)).text, 'v1.0.0\nv1.1.0\nv1.2.0\n');
});

t.test('a waiver by alias lifts the denial until it expires', async (t) => {
  const { gw } = await setup(t, {
    vulnerabilities: {
      waivers: [
        { id: 'CVE-2026-2222', reason: 'not reachable, SEC-1', expires: '2999-01-01T00:00:00Z' },
        { id: 'GO-2026-0003', reason: 'expired', expires: '2020-01-01T00:00:00Z' },
      ],
    },
  });
  const r = await get(`${gw.url}/example.com/lib/@v/v1.0.0.zip`);
  t.equal(r.status, 200);
  t.match(String(r.headers['x-modgate-warning']), /VULN_WAIVED|waived/);
  t.equal(
    (await get(`${gw.url}/example.com/lib/@v/v1.2.0.zip`)).status,
    403,
    'an expired waiver lifts nothing',
  );
});

t.test('only withdrawn entries: allowed', async (t) => {
  const { gw } = await setup(t);
  t.equal((await get(`${gw.url}/example.com/other/@v/v1.0.0.zip`)).status, 200);
});

t.test('dry-run only warns', async (t) => {
  const { gw } = await setup(t, {}, { mode: 'dry-run' });
  const r = await get(`${gw.url}/example.com/lib/@v/v1.0.0.zip`);
  t.equal(r.status, 200);
  t.match(String(r.headers['x-modgate-warning']), /GO-2026-0002/);
});

t.test('min_fixed refuses versions below a fix when vulnerabilities only warn', async (t) => {
  const { gw } = await setup(t, { vulnerabilities: { mode: 'warn', minFixed: true } });
  const r = await get(`${gw.url}/example.com/lib/@v/v1.0.0.zip`);
  t.equal(r.status, 403);
  t.match(r.text, /BELOW_MIN_FIXED/);
  t.equal(
    (await get(`${gw.url}/example.com/lib/@v/v1.2.0.zip`)).status,
    200,
    'no fix exists: only a warning',
  );
});

t.test('no verified copy yet: zips fail closed', async (t) => {
  const { gw } = await setup(t, {}, { load: false });
  const r = await get(`${gw.url}/example.com/lib/@v/v1.1.0.zip`);
  t.equal(r.status, 403);
  t.match(r.text, /VULNDB_NOT_LOADED/);
});
