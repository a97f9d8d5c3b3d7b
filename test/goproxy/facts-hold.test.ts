import t from 'tap';
import type { Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import YAML from 'yaml';
import { readRecords } from '../../src/audit/query.js';
import type { DecisionEntry } from '../../src/audit/records.js';
import { makeModule } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { startHeldUpstream } from '../helpers/held-upstream.js';
import { testdir } from '../helpers/testdir.js';

/**
 * Facts hold a zip back only when the policy in force needs them: an upstream
 * whose .info and list never answer (until the test ends) does not delay a
 * zip under a policy that needs no facts, and under a cool-down the zip waits
 * for the publish time within the facts budget and then fails closed.
 */

const M = 'example.com/held';
const INFO = `/${M}/@v/v1.0.0.info`;
const LIST = `/${M}/@v/list`;

async function setup(
  t: Test,
  data: Record<string, unknown>,
  o: { files?: Record<string, string>; requestFactsMs?: number; upstreamTimeoutMs?: number } = {},
) {
  const mod = await makeModule(M, 'v1.0.0', o.files ?? {}, '2020-01-01T00:00:00Z');
  const up = await startHeldUpstream([mod], /(\.info|\/@v\/list)$/);
  const dir = testdir(t);
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, YAML.stringify(data));
  const gw = await startTestGateway(path.join(dir, 'data'), {
    upstream: up.url,
    policy: { dataFile },
    limits: { requestFactsMs: o.requestFactsMs ?? 1500 },
    http: {
      retries: 1,
      retryBaseMs: 5,
      headersTimeoutMs: o.upstreamTimeoutMs ?? 5000,
      bodyTimeoutMs: o.upstreamTimeoutMs ?? 5000,
      deadlineMs: o.upstreamTimeoutMs ?? 5000,
    },
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
  return { mod, up, gw, records };
}

async function getZip(url: string) {
  // Far shorter than a wait for the facts would last (the facts budget and upstream timeouts below).
  const res = await request(`${url}/${M}/@v/v1.0.0.zip`, { headersTimeout: 30_000 });
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

t.test('a policy that needs no facts serves the zip while .info and list hang', async (t) => {
  const { mod, up, gw, records } = await setup(
    t,
    { minReleaseAgeHours: 0, denyRetracted: false },
    { requestFactsMs: 120_000, upstreamTimeoutMs: 120_000 },
  );
  const zip = await getZip(gw.url);
  t.equal(zip.status, 200);
  t.ok(zip.body.equals(mod.zip), 'the verified bytes');
  // The facts were asked for (in the background) and are still unanswered.
  await up.held(2);
  t.equal(up.count(INFO), 1);
  t.equal(up.count(LIST), 1);
  const recs = await records();
  const rec = recs.find((r) => r.kind === 'zip' && r.module === M);
  t.equal(rec?.decision, 'allow', 'the decision is recorded');
  t.equal(rec?.version, 'v1.0.0');
  t.equal(rec?.cache, 'miss');
});

t.test('a cool-down makes the same zip wait for the publish time, then fail closed', async (t) => {
  const { up, gw, records } = await setup(t, { minReleaseAgeHours: 24 });
  const res = await request(`${gw.url}/${M}/@v/v1.0.0.zip`);
  const text = await res.body.text();
  t.equal(res.statusCode, 403);
  t.match(text, new RegExp(`^PUBLISH_TIME_UNKNOWN: modgate could not learn when ${M}@v1.0.0`, 'm'));
  t.equal(up.count(INFO), 1, 'the publish time was asked for and never came');
  const rec = (await records()).find((r) => r.kind === 'zip' && r.module === M);
  t.equal(rec?.decision, 'deny');
  t.same(rec?.codes, ['PUBLISH_TIME_UNKNOWN']);
});

t.test('denyRetracted makes the zip wait for the module facts only', async (t) => {
  // The module's one version retracts itself: only its go.mod, read once the list answers, says so.
  const { up, gw, records } = await setup(
    t,
    { denyRetracted: true },
    { files: { 'go.mod': `module ${M}\n\nretract v1.0.0\n` }, requestFactsMs: 60_000 },
  );
  const pending = request(`${gw.url}/${M}/@v/v1.0.0.zip`);
  await up.held(2);
  up.release(LIST);
  const res = await pending;
  const text = await res.body.text();
  t.equal(res.statusCode, 403, 'decided with the retraction, so after the list answered');
  t.match(text, /^VERSION_RETRACTED: /m);
  t.equal(up.count(INFO), 1, 'the publish time, not needed, was never answered');
  const rec = (await records()).find((r) => r.kind === 'zip' && r.module === M);
  t.same(rec?.codes, ['VERSION_RETRACTED']);
});
