import t from 'tap';
import type { Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { makeModule, sumdbRecords, type FakeModule } from '../helpers/fake-upstream.js';
import { startFakeSumdb } from '../helpers/fake-sumdb.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { eventually, startMirror, type Mirror } from '../helpers/mirror.js';
import { artifactKey } from '../../src/goproxy/keys.js';
import type { Gateway } from '../../src/main.js';

// Every request crosses four local servers and a gateway: generous on a busy machine.
t.setTimeout(600_000);

const M = 'example.com/routed';
const VERSIONS = Array.from({ length: 12 }, (_, i) => `v1.0.${i}`);

interface Env {
  mirrors: Mirror[];
  outside: Mirror;
  gw: Gateway;
  audit: ReturnType<typeof recordingAudit>;
  mods: FakeModule[];
}

async function setup(t: Test, mirrors: Record<string, unknown> = {}, n = 3): Promise<Env> {
  const mods = await Promise.all(
    VERSIONS.map((v) => makeModule(M, v, { 'r.go': `package routed // ${v}\n` })),
  );
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-routing-'));
  const db = await startFakeSumdb({ records: await sumdbRecords(mods, dir) });
  const ms = await Promise.all(Array.from({ length: n }, () => startMirror(mods)));
  const outside = await startMirror(mods);
  const audit = recordingAudit();
  const gw = await startTestGateway(
    dir,
    {
      upstream: `${ms.map((m) => m.url).join('|')},${outside.url}`,
      sumdb: `${db.verifierKey} ${db.url}`,
      http: { retries: 0, retryBaseMs: 5, headersTimeoutMs: 10000, bodyTimeoutMs: 10000 },
      mirrors: {
        groups: [{ name: 'pub', members: ms.map((m) => m.url), equivalent: true }],
        probeIntervalMs: 0,
        ...mirrors,
      },
    },
    { audit },
  );
  t.teardown(async () => {
    await gw.close();
    await Promise.all([...ms, outside].map((m) => m.close()));
    await db.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { mirrors: ms, outside, gw, audit, mods };
}

async function get(gw: Gateway, p: string) {
  const res = await request(`${gw.url}/${M}/@v/${p}`);
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

/** Which mirror served each of the given versions' .info (by the mirrors' own counts). */
function servedBy(ms: Mirror[], v: string): number {
  return ms.findIndex((m) => m.count(`/@v/${v}.info`) > 0);
}

async function served(gw: Gateway, upstream: string): Promise<number> {
  const text = await gw.metrics.registry.getSingleMetricAsString('modgate_mirror_served_total');
  return text
    .split('\n')
    .filter((l) => l.includes(`upstream="${upstream}"`))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

/** Makes mirror `best` the first choice: the others answer the background probe slowly. */
async function makeBest(gw: Gateway, ms: Mirror[], best: number): Promise<void> {
  const others = ms.filter((_, i) => i !== best);
  for (const m of others) m.fault('/', { delayMs: 500 });
  // Bounded: a few probe rounds at most (each only adds slow samples to the others).
  for (let i = 0; i < 5 && gw.routing.groups[0]!.order()[0]!.url !== ms[best]!.url; i++)
    await gw.routing.probeAll();
  for (const m of others) m.fault('/', null);
  if (gw.routing.groups[0]!.order()[0]!.url !== ms[best]!.url)
    throw new Error('the probes did not make the mirror the best');
}

function stateOf(gw: Gateway, upstream: string): string | undefined {
  return gw.routing.snapshot().find((s) => s.upstream === upstream)?.state;
}

t.test('traffic moves away from a mirror that turns slow, to the fastest', async (t) => {
  const { mirrors: ms, gw } = await setup(t, { hedge: { enabled: false } });
  const first = await get(gw, `${VERSIONS[0]}.info`);
  t.equal(first.status, 200);
  const best = servedBy(ms, VERSIONS[0]!);
  t.ok(best >= 0, 'a mirror of the group served it');
  ms[best]!.fault('.info', { delayMs: 600 });
  for (const v of VERSIONS.slice(1, 8)) t.equal((await get(gw, `${v}.info`)).status, 200);
  const later = VERSIONS.slice(3, 8).map((v) => servedBy(ms, v));
  t.notOk(later.includes(best), `the slow mirror serves none of the later requests (${later})`);
  const slow = await served(gw, ms[best]!.url);
  t.ok(slow <= 3, `the slow mirror served only the first few (${slow} of 8)`);
  const ready = await request(`${gw.url}/readyz`);
  const body = (await ready.body.json()) as { checks: Record<string, string> };
  t.match(body.checks.mirrors, /^pub: serving from http:\/\/127\.0\.0\.1:\d+/);
  t.notMatch(body.checks.mirrors, new RegExp(`serving from ${ms[best]!.url} `));
});

t.test('the circuit opens after N failures and closes after recovery', async (t) => {
  const { mirrors: ms, gw } = await setup(
    t,
    { hedge: { enabled: false }, breaker: { failures: 3, coolOffMs: 8000 }, errorPenalty: 0 },
    2,
  );
  const [a, b] = ms as [Mirror, Mirror];
  // a looks best (b is slow), then fails every request.
  b.fault('.info', { delayMs: 600 });
  a.fault('.info', { status: 503 });
  let i = 0;
  for (; i < VERSIONS.length && stateOf(gw, a.url) !== 'open'; i++)
    t.equal((await get(gw, `${VERSIONS[i]}.info`)).status, 200, 'b answers what a fails');
  t.equal(stateOf(gw, a.url), 'open', `the circuit opened after ${i} requests`);
  t.equal(a.count('.info'), 3, 'three consecutive failures opened it');
  const metrics = await gw.metrics.registry.getSingleMetricAsString('modgate_mirror_state');
  t.ok(metrics.includes(`upstream="${a.url}",state="open"} 1`), 'the state gauge says open');
  const before = a.count('.info');
  for (const v of VERSIONS.slice(i, i + 3)) t.equal((await get(gw, `${v}.info`)).status, 200);
  t.equal(a.count('.info'), before, 'an open circuit gets no request');
  a.fault('.info', null);
  t.ok(await eventually(() => stateOf(gw, a.url) === 'half-open'), 'half-open after cool-off');
  await gw.routing.probeAll();
  t.equal(stateOf(gw, a.url), 'closed', 'a healthy half-open trial closes the circuit');
  const v = VERSIONS[i + 3]!;
  t.equal((await get(gw, `${v}.info`)).status, 200);
  t.equal(a.count(`/@v/${v}.info`), 1, 'traffic goes back to the recovered mirror');
});

t.test('hedging: a stalled first mirror is overtaken by the next one', async (t) => {
  const { mirrors: ms, gw } = await setup(
    t,
    { hedge: { enabled: true, minMs: 50, maxMs: 300 } },
    2,
  );
  const [a, b] = ms as [Mirror, Mirror];
  const v = VERSIONS[0]!;
  await makeBest(gw, ms, 0);
  a.fault(`/@v/${v}.zip`, { stall: true });
  const res = await get(gw, `${v}.zip`);
  t.equal(res.status, 200, 'the client gets the answer of the hedge');
  const mod = (await setupModule(v))!;
  t.same(res.body, mod.zip, 'the verified bytes');
  t.equal(a.count(`/@v/${v}.zip`), 1, 'the stalled mirror was asked first');
  t.equal(b.count(`/@v/${v}.zip`), 1, 'the next one was asked too');
  t.ok(await eventually(() => a.abandoned >= 1 && a.stalled === 0), 'the loser was aborted');
  const text = await gw.metrics.registry.getSingleMetricAsString('modgate_mirror_served_total');
  t.ok(text.includes(`upstream="${b.url}",hedged="true"} 1`), 'counted as a hedged win of b');
});

async function setupModule(v: string): Promise<FakeModule> {
  return makeModule(M, v, { 'r.go': `package routed // ${v}\n` });
}

t.test('a mirror serving tampered zips is quarantined; nothing tampered is cached', async (t) => {
  const { mirrors: ms, gw, audit, mods } = await setup(t, { hedge: { enabled: false } });
  const [a, b, c] = ms as [Mirror, Mirror, Mirror];
  const evil0 = await makeModule(M, VERSIONS[0]!, { 'r.go': 'package routed // evil\n' });
  const evil = await makeModule(M, VERSIONS[1]!, { 'r.go': 'package routed // evil\n' });
  for (const m of ms) m.fault(`/@v/${VERSIONS[0]}.zip`, { body: evil0.zip });
  // Only the preferred mirror tampers with v1.0.1: the client gets the bytes of another one.
  const v = VERSIONS[1]!;
  await makeBest(gw, ms, 0);
  a.fault(`/@v/${v}.zip`, { body: evil.zip });
  const res = await get(gw, `${v}.zip`);
  t.equal(res.status, 200, `served from an honest mirror: ${res.body.toString().slice(0, 300)}`);
  t.same(res.body, mods[1]!.zip, 'the verified bytes');
  t.equal(a.count(`/@v/${v}.zip`), 1, 'the tampering mirror was asked first');
  t.equal(b.count(`/@v/${v}.zip`) + c.count(`/@v/${v}.zip`), 1, 'then one honest mirror');
  const cached = await gw.store.getBytes(artifactKey(M, v, 'zip'));
  t.equal(sha(cached!), sha(mods[1]!.zip), 'the cache holds the honest bytes');
  t.equal(stateOf(gw, a.url), 'quarantined');
  const q = audit.events.find((e) => e.event === 'MIRROR_QUARANTINED');
  t.ok(q, 'the audit trail has the quarantine record');
  t.equal(q?.details.upstream, a.url);
  t.ok(audit.events.some((e) => e.event === 'CHECKSUM_MISMATCH' && e.details.upstream === a.url));
  const security = await gw.metrics.registry.getSingleMetricAsString(
    'modgate_security_events_total',
  );
  t.match(security, /event="MIRROR_QUARANTINED"} 1/);
  // Later misses never go to the quarantined mirror.
  t.equal((await get(gw, `${VERSIONS[2]}.info`)).status, 200);
  t.equal(a.count(`/@v/${VERSIONS[2]}.info`), 0, 'the quarantined mirror is left out');
  // Every mirror tampers with v1.0.0: the client is refused and nothing is cached.
  const bad = await get(gw, `${VERSIONS[0]}.zip`);
  t.ok(bad.status >= 400, `refused (${bad.status})`);
  t.match(bad.body.toString(), /CHECKSUM_MISMATCH|SECURITY ERROR/);
  t.equal(await gw.store.stat(artifactKey(M, VERSIONS[0]!, 'zip')), null, 'nothing cached');
  t.ok(
    ms.every((m) => stateOf(gw, m.url) === 'quarantined'),
    'each tampering mirror is out',
  );
  const rec = audit.decisions.filter((d) => d.kind === 'zip' && d.version === VERSIONS[0]);
  t.ok(rec.length >= 1 && rec.every((d) => d.decision !== 'allow'), 'recorded as a refusal');
});

t.test('routing never picks a mirror outside the group', async (t) => {
  const {
    mirrors: ms,
    outside,
    gw,
    audit,
  } = await setup(t, {
    hedge: { enabled: true, minMs: 50, maxMs: 100 },
    breaker: { failures: 2, coolOffMs: 60000 },
  });
  for (const m of ms) m.fault('.info', { status: 503 });
  for (const v of VERSIONS.slice(0, 4)) {
    const res = await get(gw, `${v}.info`);
    t.equal(res.status, 502, 'the group fails, and `,` does not fall through on errors');
  }
  t.equal(outside.count('.info'), 0, 'the upstream after the group got no request');
  t.ok(audit.decisions.every((d) => d.upstream !== outside.url));
  const upstreams = new Set(audit.decisions.map((d) => d.upstream).filter(Boolean));
  t.ok(
    [...upstreams].every((u) => ms.some((m) => m.url === u) || u === 'pub'),
    [...upstreams].join(),
  );
  // A 404 from every member falls through to the next entry, as GOPROXY says.
  for (const m of ms) m.fault('.info', null);
});

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
