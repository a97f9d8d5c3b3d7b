/**
 * @latest naming a version the list does not (a list that lags, a module with
 * no tagged version) is checked against policy like a listed version: a
 * banned, retracted or vulnerable latest is skipped for the newest allowed
 * listed version, or refused when none is allowed, and never returned
 * unchecked.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { request } from 'undici';
import YAML from 'yaml';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { dbFiles } from '../vuln/helpers/db.js';
import { testdir } from '../helpers/testdir.js';

const M = 'example.com/lagging';
const P = 'example.com/untagged';
const PSEUDO = 'v0.0.0-20240101000000-abcdefabcdef';

async function setup(t: Test, data: Record<string, unknown>) {
  const up = await startFakeUpstream([
    // v1.0.0's go.mod is the one the list makes the latest: its retractions count.
    await makeModule(M, 'v1.0.0', { 'go.mod': `module ${M}\n\nretract v1.3.0\n` }),
    await makeModule(M, 'v1.2.0'),
    await makeModule(P, PSEUDO),
  ]);
  // The list lags: it names v1.0.0 only, while @latest answers v1.2.0.
  up.misbehave(`/${M}/@v/list`, { kind: 'replace', body: Buffer.from('v1.0.0\n') });
  const dir = testdir(t);
  const db = path.join(dir, 'vulndb');
  const files = dbFiles([
    {
      id: 'GO-2026-0100',
      summary: 'Latest regression',
      affected: [{ module: M, ranges: [[{ introduced: '1.2.0' }]] }],
    },
  ]);
  for (const [p, b] of files) {
    await mkdir(path.dirname(path.join(db, p)), { recursive: true });
    await writeFile(path.join(db, p), b);
  }
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, YAML.stringify(data));
  const audit = recordingAudit();
  const gw = await startTestGateway(
    path.join(dir, 'data'),
    { upstream: up.url, policy: { dataFile }, vulndb: { enabled: true, source: db } },
    { audit },
  );
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  await gw.vulndb!.sync();
  return { up, gw, audit };
}

async function latest(url: string): Promise<{ status: number; version?: string; text: string }> {
  const res = await request(url);
  const text = await res.body.text();
  if (res.statusCode !== 200) return { status: res.statusCode, text };
  return { status: 200, version: (JSON.parse(text) as { Version: string }).Version, text };
}

t.test('an unlisted latest that policy allows is returned', async (t) => {
  const { gw } = await setup(t, { vulnerabilities: { mode: 'off' } });
  const r = await latest(`${gw.url}/${M}/@latest`);
  t.equal(r.version, 'v1.2.0');
});

t.test('a vulnerable unlisted latest is skipped for the newest allowed version', async (t) => {
  const { gw } = await setup(t, {});
  const r = await latest(`${gw.url}/${M}/@latest`);
  t.equal(r.status, 200);
  t.equal(r.version, 'v1.0.0', 'v1.2.0 is affected by GO-2026-0100');
});

t.test('a banned unlisted latest is skipped', async (t) => {
  const { gw } = await setup(t, {
    vulnerabilities: { mode: 'off' },
    banned: [{ module: M, versions: 'v1.2.0', reason: 'INC-7' }],
  });
  t.equal((await latest(`${gw.url}/${M}/@latest`)).version, 'v1.0.0');
});

t.test('a retracted unlisted latest is skipped', async (t) => {
  const { up, gw } = await setup(t, { vulnerabilities: { mode: 'off' }, denyRetracted: true });
  // v1.0.0's go.mod (the list's latest) retracts the version @latest names.
  up.misbehave(`/${M}/@latest`, {
    kind: 'replace',
    body: Buffer.from(JSON.stringify({ Version: 'v1.3.0', Time: '2024-01-02T03:04:05Z' })),
  });
  t.equal((await latest(`${gw.url}/${M}/@latest`)).version, 'v1.0.0');
});

t.test('with nothing else allowed, a denied latest is refused and recorded', async (t) => {
  const { gw, audit } = await setup(t, { pseudoVersions: 'deny' });
  const r = await latest(`${gw.url}/${P}/@latest`);
  t.equal(r.status, 403);
  t.match(r.text, `no allowed version of ${P}: its latest, ${PSEUDO}, is not allowed by policy`);
  const rec = audit.decisions.find((d) => d.kind === 'latest' && d.module === P);
  t.ok(rec, 'the refusal is in the trail');
  t.not(rec?.decision, 'allow');
  t.same(rec?.codes, ['POLICY_DENIED']);
  // The same untagged module is served under a policy that allows pseudo-versions.
  const ok = await setup(t, {});
  t.equal((await latest(`${ok.gw.url}/${P}/@latest`)).version, PSEUDO);
});
