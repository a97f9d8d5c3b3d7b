import t from 'tap';
import type { Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import YAML from 'yaml';
import { readRecords } from '../../src/audit/query.js';
import type { DecisionEntry } from '../../src/audit/records.js';
import { makeModule, startFakeUpstream, type FakeModule } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { testdir } from '../helpers/testdir.js';

/**
 * Retraction fails closed, in the shape of the cool-down's
 * PUBLISH_TIME_UNKNOWN: under denyRetracted, a version whose retraction
 * cannot be learnt (the list or the latest go.mod fails upstream) is refused
 * with RETRACTION_UNKNOWN; a module with no tagged version is not an error;
 * without denyRetracted nothing changes.
 */

const M = 'example.com/retr';
const LATEST_MOD = `/${M}/@v/v1.1.0.mod`;
// A module with no tagged version: its list is empty, @latest names a pseudo-version.
const P = 'example.com/untagged';
const PSEUDO = 'v0.0.0-20240101000000-abcdefabcdef';
const REASON = `RETRACTION_UNKNOWN: modgate could not learn whether ${M}@v1.0.0 is retracted (its module's latest go.mod could not be had), and denyRetracted needs it`;

async function modules(): Promise<FakeModule[]> {
  return [
    await makeModule(M, 'v1.0.0'),
    // The latest go.mod: the one whose retract directives say what is retracted.
    await makeModule(M, 'v1.1.0', { 'go.mod': `module ${M}\n\nretract v1.0.9\n` }),
    await makeModule(P, PSEUDO),
  ];
}

async function setup(t: Test, data: Record<string, unknown>, policy: Record<string, unknown> = {}) {
  const up = await startFakeUpstream(await modules());
  const dir = testdir(t);
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, YAML.stringify(data));
  const gw = await startTestGateway(path.join(dir, 'data'), {
    upstream: up.url,
    policy: { dataFile, ...policy },
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await gw.close();
    await up.close();
  };
  t.teardown(close);
  const records = async (): Promise<DecisionEntry[]> => {
    await close();
    const out: DecisionEntry[] = [];
    for await (const r of readRecords(path.join(dir, 'data', 'audit')))
      if (r.type === 'decision') out.push(r);
    return out;
  };
  return { up, gw, records };
}

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

t.test('under denyRetracted, a failing latest go.mod refuses the version', async (t) => {
  const { up, gw, records } = await setup(t, { denyRetracted: true });
  up.misbehave(LATEST_MOD, { kind: 'status', status: 500 });

  const zip = await get(`${gw.url}/${M}/@v/v1.0.0.zip`);
  t.equal(zip.status, 403);
  t.match(zip.headers['content-type'], /^text\/plain/);
  t.equal(zip.text, `modgate policy denied this request:\n${REASON}\n`, 'the reason is named');
  t.ok(up.count(LATEST_MOD) >= 1, 'the latest go.mod was asked for');
  const again = await get(`${gw.url}/${M}/@v/v1.0.0.zip`);
  t.equal(again.status, 403, 'what modgate holds does not turn the refusal into a serve');
  t.equal((await get(`${gw.url}/${M}/@v/list`)).text, '', 'the list offers no version');
  t.equal((await get(`${gw.url}/${M}/@latest`)).status, 403, '@latest picks none');

  const recs = await records();
  const zips = recs.filter((r) => r.kind === 'zip' && r.module === M);
  t.equal(zips.length, 2, 'both refusals are recorded');
  for (const r of zips) {
    t.equal(r.decision, 'deny');
    t.same(r.codes, ['RETRACTION_UNKNOWN']);
  }
  t.notOk(
    recs.some((r) => r.kind === 'zip' && r.decision !== 'deny'),
    'no zip was served',
  );
});

t.test('a failing list refuses it too, and the refusal lifts once it answers', async (t) => {
  const { up, gw } = await setup(t, { denyRetracted: true });
  up.misbehave(`/${M}/@v/list`, { kind: 'status', status: 500 });
  const zip = await get(`${gw.url}/${M}/@v/v1.0.0.zip`);
  t.equal(zip.status, 403);
  t.match(zip.text, /^RETRACTION_UNKNOWN: /m);
  up.misbehave(`/${M}/@v/list`, null);
  // The failure was not remembered: the next request learns the retractions.
  const ok = await get(`${gw.url}/${M}/@v/v1.0.0.zip`);
  t.equal(ok.status, 200);
});

t.test('a module with no tagged version is not an error', async (t) => {
  const { up, gw, records } = await setup(t, { denyRetracted: true });
  t.equal((await get(`${gw.url}/${P}/@v/list`)).text, '', 'its list is empty');
  const latest = await get(`${gw.url}/${P}/@latest`);
  t.equal(latest.status, 200);
  t.equal(JSON.parse(latest.text).Version, PSEUDO);
  const zip = await get(`${gw.url}/${P}/@v/${PSEUDO}.zip`);
  t.equal(zip.status, 200, 'nothing can retract it');
  t.equal(up.count(`/${P}/@v/${PSEUDO}.mod`), 0, 'no go.mod was needed for retractions');
  const rec = (await records()).find((r) => r.kind === 'zip' && r.module === P);
  t.equal(rec?.decision, 'allow');
});

t.test('dry-run serves it with the warning', async (t) => {
  const { up, gw, records } = await setup(t, { denyRetracted: true }, { mode: 'dry-run' });
  up.misbehave(LATEST_MOD, { kind: 'status', status: 500 });
  const zip = await get(`${gw.url}/${M}/@v/v1.0.0.zip`);
  t.equal(zip.status, 200);
  t.match(zip.headers['x-modgate-warning'], /RETRACTION_UNKNOWN: dry-run, would deny/);
  const rec = (await records()).find((r) => r.kind === 'zip' && r.module === M);
  t.equal(rec?.decision, 'warn');
  t.same(rec?.codes, ['RETRACTION_UNKNOWN']);
});

t.test('without denyRetracted, an unknown retraction changes nothing', async (t) => {
  const { up, gw } = await setup(t, { denyRetracted: false });
  up.misbehave(LATEST_MOD, { kind: 'status', status: 500 });
  up.misbehave(`/${M}/@v/list`, { kind: 'status', status: 500 });
  const zip = await get(`${gw.url}/${M}/@v/v1.0.0.zip`);
  t.equal(zip.status, 200);
  t.equal(zip.headers['x-modgate-warning'], undefined);
});
