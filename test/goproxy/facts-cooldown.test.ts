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
 * The cool-down fails closed: when modgate cannot learn a version's publish
 * time (its .info fails upstream), a cool-down in force refuses that version
 * everywhere a version is offered, and without a cool-down nothing changes.
 */

const M = 'example.com/cool';
const OLD = '2020-01-01T00:00:00Z';
// Young enough for any cool-down; its .info never answers, so modgate cannot know.
const PSEUDO = 'v0.0.0-20260101000000-abcdefabcdef';
const Q = 'example.com/query';

async function modules(): Promise<FakeModule[]> {
  const young = new Date().toISOString();
  const pseudo = await makeModule(Q, PSEUDO, {}, young);
  return [
    await makeModule(M, 'v1.0.0', {}, OLD),
    await makeModule(M, 'v1.1.0', {}, young),
    pseudo,
    // The branch query `master` resolves to the pseudo-version.
    { ...(await makeModule(Q, 'master', {}, young)), info: pseudo.info },
  ];
}

async function setup(t: Test, data: Record<string, unknown>, policy: Record<string, unknown> = {}) {
  const up = await startFakeUpstream(await modules());
  up.misbehave(`/${M}/@v/v1.1.0.info`, { kind: 'status', status: 500 });
  up.misbehave(`/${Q}/@v/${PSEUDO}.info`, { kind: 'status', status: 500 });
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
  /** Every decision record, read back from the audit trail once the gateway is closed. */
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

const REASON = `PUBLISH_TIME_UNKNOWN: modgate could not learn when ${M}@v1.1.0 was published, and the cool-down of 24 hours needs it`;

t.test('under a cool-down, a version whose publish time is unknown is refused', async (t) => {
  const { up, gw, records } = await setup(t, { minReleaseAgeHours: 24 });

  const zip = await get(`${gw.url}/${M}/@v/v1.1.0.zip`);
  t.equal(zip.status, 403);
  t.match(zip.headers['content-type'], /^text\/plain/);
  t.equal(
    zip.text,
    `modgate policy denied this request:\n${REASON}\n`,
    'the refusal names the reason',
  );
  t.ok(up.count(`/${M}/@v/v1.1.0.info`) >= 1, 'the publish time was asked for');

  // The copy modgate now holds does not turn the refusal into a serve.
  const again = await get(`${gw.url}/${M}/@v/v1.1.0.zip`);
  t.equal(again.status, 403);
  t.match(again.text, /^PUBLISH_TIME_UNKNOWN: /m);

  t.equal((await get(`${gw.url}/${M}/@v/list`)).text, 'v1.0.0\n', 'not offered in the list');
  const latest = await get(`${gw.url}/${M}/@latest`);
  t.equal(latest.status, 200);
  t.equal(JSON.parse(latest.text).Version, 'v1.0.0', '@latest does not pick it');

  // The old version is served: the cool-down itself still works.
  t.equal((await get(`${gw.url}/${M}/@v/v1.0.0.zip`)).status, 200);
  // .mod is not a version rule's concern (the go command reads go.mod files it will not pick).
  t.equal((await get(`${gw.url}/${M}/@v/v1.1.0.mod`)).status, 200);

  // A branch query resolves, but the zip it points to is refused all the same.
  const query = await get(`${gw.url}/${Q}/@v/master.info`);
  t.equal(query.status, 200);
  t.equal(JSON.parse(query.text).Version, PSEUDO);
  const qzip = await get(`${gw.url}/${Q}/@v/${PSEUDO}.zip`);
  t.equal(qzip.status, 403);
  t.match(qzip.text, new RegExp(`\nPUBLISH_TIME_UNKNOWN: modgate could not learn when ${Q}@`));

  const recs = await records();
  const zips = recs.filter((r) => r.kind === 'zip' && r.module === M && r.version === 'v1.1.0');
  t.equal(zips.length, 2, 'both refusals are recorded');
  for (const r of zips) {
    t.equal(r.decision, 'deny');
    t.same(r.codes, ['PUBLISH_TIME_UNKNOWN']);
  }
  t.notOk(
    recs.some((r) => r.kind === 'zip' && r.version !== 'v1.0.0' && r.decision !== 'deny'),
    'no zip of unknown age was recorded as served',
  );
  t.ok(recs.some((r) => r.kind === 'zip' && r.module === Q && r.decision === 'deny'));
});

t.test('the refusal lifts once the publish time can be learnt and is old enough', async (t) => {
  const { up, gw } = await setup(t, { minReleaseAgeHours: 24 });
  t.equal((await get(`${gw.url}/${M}/@v/v1.1.0.zip`)).status, 403);
  // The .info now answers with an old time: a failed .info was not remembered.
  up.misbehave(`/${M}/@v/v1.1.0.info`, {
    kind: 'replace',
    body: Buffer.from(JSON.stringify({ Version: 'v1.1.0', Time: OLD })),
  });
  t.equal((await get(`${gw.url}/${M}/@v/v1.1.0.zip`)).status, 200);
});

t.test('an exempt path or a waiver lifts it, like the cool-down itself', async (t) => {
  const { gw } = await setup(t, {
    minReleaseAgeHours: 24,
    cooldownExempt: [Q],
    waivers: [{ module: M, versions: 'v1.1.0', reason: 'INC-1', expires: '2999-01-01T00:00:00Z' }],
  });
  const zip = await get(`${gw.url}/${M}/@v/v1.1.0.zip`);
  t.equal(zip.status, 200);
  t.match(zip.headers['x-modgate-warning'], /WAIVED/);
  t.equal((await get(`${gw.url}/${Q}/@v/${PSEUDO}.zip`)).status, 200);
});

t.test('dry-run serves it with a warning and records the warning', async (t) => {
  const { gw, records } = await setup(t, { minReleaseAgeHours: 24 }, { mode: 'dry-run' });
  const zip = await get(`${gw.url}/${M}/@v/v1.1.0.zip`);
  t.equal(zip.status, 200);
  t.match(
    zip.headers['x-modgate-warning'],
    /PUBLISH_TIME_UNKNOWN: dry-run, would deny: modgate could not learn/,
  );
  t.equal((await get(`${gw.url}/${M}/@v/list`)).text, 'v1.0.0\nv1.1.0\n');
  const rec = (await records()).find((r) => r.kind === 'zip' && r.version === 'v1.1.0');
  t.equal(rec?.decision, 'warn');
  t.same(rec?.codes, ['PUBLISH_TIME_UNKNOWN']);
});

t.test('without a cool-down, an unknown publish time changes nothing', async (t) => {
  const { gw, records } = await setup(t, { minReleaseAgeHours: 0, denyRetracted: true });
  const zip = await get(`${gw.url}/${M}/@v/v1.1.0.zip`);
  t.equal(zip.status, 200);
  t.equal(zip.headers['x-modgate-warning'], undefined);
  t.equal((await get(`${gw.url}/${M}/@v/list`)).text, 'v1.0.0\nv1.1.0\n');
  t.equal(JSON.parse((await get(`${gw.url}/${M}/@latest`)).text).Version, 'v1.1.0');
  t.equal((await get(`${gw.url}/${Q}/@v/${PSEUDO}.zip`)).status, 200);
  const rec = (await records()).find((r) => r.kind === 'zip' && r.version === 'v1.1.0');
  t.equal(rec?.decision, 'allow');
});
