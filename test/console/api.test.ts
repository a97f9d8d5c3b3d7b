import t from 'tap';
import { request } from 'undici';
import { hashToken } from '../../src/auth/tokens.js';
import { queryAudit } from '../../src/audit/query.js';
import type { AuditRecord } from '../../src/audit/records.js';
import { modgate } from '../helpers/cli.js';
import { startFakeUpstream, makeModule } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { DENIED_MODULE, generateTrail, MODULES } from '../helpers/console-trail.js';
import path from 'node:path';
import { testdir } from '../helpers/testdir.js';

const AUDITOR = 'mgt_auditor-token';
const ADMIN = 'mgt_admin-token';
const PLAIN = 'mgt_no-role-token';

// One trail of 100,000 records for every test of this file.
const root = testdir(t);
const data = path.join(root, 'data');
const trail = await generateTrail(data, 100_000);
const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
const gw = await startTestGateway(data, {
  upstream: up.url,
  console: { enabled: true },
  auth: {
    required: true,
    tokens: [
      { id: 'auditor', sha256: hashToken(AUDITOR), groups: [], roles: ['auditor'] },
      { id: 'admin', sha256: hashToken(ADMIN), groups: [], roles: ['admin'] },
      { id: 'builder', sha256: hashToken(PLAIN), groups: [] },
    ],
  },
});
t.teardown(async () => {
  await gw.close();
  await up.close();
});
const started = new Date(Date.now() - 60_000);
// The trail as the query code reads it, once: the expectations of every test below.
const all = await collect({});

async function get(p: string, token?: string, method: 'GET' | 'POST' = 'GET') {
  const res = await request(`${gw.url}${p}`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

async function api<T>(p: string, token = AUDITOR): Promise<T> {
  const r = await get(`/console/api/${p}`, token);
  if (r.status !== 200) throw new Error(`${p}: ${r.status} ${r.text}`);
  return JSON.parse(r.text) as T;
}

async function collect(filter: Parameters<typeof queryAudit>[1]): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const r of queryAudit(path.join(data, 'audit'), filter)) out.push(r);
  return out;
}

t.test(
  'the front door: anonymous 401, no role 403, a role opens the API; the shell is public',
  async (t) => {
    const anon = await get('/console/api/overview');
    t.equal(anon.status, 401);
    t.match(anon.text, /^AUTH_REQUIRED: /);
    t.match(String(anon.headers['www-authenticate']), /Bearer/);
    const bad = await get('/console/api/overview', 'mgt_wrong');
    t.equal(bad.status, 401);
    t.match(bad.text, /^AUTH_INVALID: /);
    const plain = await get('/console/api/decisions', PLAIN);
    t.equal(plain.status, 403);
    t.match(plain.text, /^ROLE_REQUIRED: builder has none of the roles auditor, admin/);
    t.same(await api('whoami', ADMIN), { id: 'admin', method: 'bearer', roles: ['admin'] });
    // Module traffic still needs its token: the console adds no way around auth.required.
    t.equal((await get('/example.com/m/@v/list')).status, 401);

    const shell = await get('/console/');
    t.equal(shell.status, 200);
    t.match(shell.headers['content-type'], /text\/html/);
    t.match(shell.text, /<script type="module" src="\/console\/app.js">/);
    t.notMatch(shell.text, /<script>|<style|style=/, 'no inline script or style');
    const csp = String(shell.headers['content-security-policy']);
    for (const d of [
      "default-src 'self'",
      "script-src 'self'",
      "frame-ancestors 'none'",
      "object-src 'none'",
    ])
      t.ok(csp.includes(d), d);
    t.notMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    t.equal(shell.headers['x-content-type-options'], 'nosniff');
    t.equal(shell.headers['referrer-policy'], 'no-referrer');
    const js = await get('/console/app.js');
    t.equal(js.status, 200);
    t.match(js.headers['content-type'], /text\/javascript/);
    t.notMatch(
      js.text,
      /https?:\/\/(?!www\.w3\.org)[a-z]/i,
      'the bundle loads nothing from elsewhere',
    );
    t.equal((await get('/console')).status, 302);
    t.equal((await get('/console/nope.js')).status, 404);
    t.equal((await get('/console/api/nope', AUDITOR)).status, 404);
    const apiHeaders = await get('/console/api/whoami', AUDITOR);
    t.equal(apiHeaders.headers['cache-control'], 'no-store');
    t.equal(apiHeaders.headers['x-content-type-options'], 'nosniff');

    // Console answers are in the trail like any other: the refusals with their codes.
    const deadline = Date.now() + 10_000;
    let seen: AuditRecord[] = [];
    while (Date.now() < deadline) {
      seen = (await collect({ types: ['access'], since: started })).filter(
        (r) => r.type === 'access' && r.path.startsWith('/console/api/'),
      );
      if (seen.some((r) => r.type === 'access' && r.code === 'ROLE_REQUIRED')) break;
      await new Promise((r) => setImmediate(r));
    }
    t.ok(
      seen.some(
        (r) => r.type === 'access' && r.code === 'ROLE_REQUIRED' && r.client.id === 'builder',
      ),
    );
    t.ok(seen.some((r) => r.type === 'access' && r.code === 'AUTH_REQUIRED' && r.status === 401));
    t.ok(seen.some((r) => r.type === 'access' && r.status === 200 && r.client.id === 'admin'));
  },
);

t.test('every parameter is checked: bad ones are 400 CONSOLE_QUERY_INVALID', async (t) => {
  const cases = [
    'decisions?bogus=1',
    'decisions?limit=201',
    'decisions?limit=0',
    'decisions?limit=x',
    'decisions?decision=maybe',
    'decisions?since=yesterday',
    'decisions?since=1h&until=2h',
    'decisions?cursor=!!',
    `decisions?cursor=${Buffer.from('{"t":"x","r":"","s":1}').toString('base64url')}`,
    'decisions?module=a&module=b',
    `decisions?module=${'m'.repeat(600)}`,
    'decisions?client=%01',
    'decisions?code=lower',
    'record?id=nope',
    'record',
    'module?module=example.com/*',
    'overview?buckets=500',
    'export/sbom?module=x',
    'integrity?x=1',
  ];
  for (const c of cases) {
    const r = await get(`/console/api/${c}`, AUDITOR);
    t.equal(r.status, 400, c);
    t.match(r.text, /^CONSOLE_QUERY_INVALID: /, c);
  }
  t.equal((await get('/console/api/record?id=:999999999', AUDITOR)).status, 404);
});

t.test(
  'decisions page through 100,000 records with a cursor, equal to the query code',
  async (t) => {
    const filter = { module: DENIED_MODULE, decision: 'deny' as const };
    const expected = all
      .filter(
        (r) =>
          r.type === 'decision' && r.module === filter.module && r.decision === filter.decision,
      )
      .slice(0, 1000);
    const got: Array<Record<string, string>> = [];
    let cursor: string | undefined;
    let slowest = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const page = await api<{ rows: Array<Record<string, string>>; next?: string }>(
        `decisions?module=${encodeURIComponent(DENIED_MODULE)}&decision=deny&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
      );
      slowest = Math.max(slowest, Date.now() - t0);
      t.equal(page.rows.length, 200);
      got.push(...page.rows);
      cursor = page.next;
      t.ok(cursor, 'more pages follow');
    }
    t.same(
      got.map((r) => r.seq),
      expected.map((r) => String(r.seq)),
      'the pages are the records of the query, in order, none twice',
    );
    t.ok(got.every((r) => r.decision === 'deny' && r.module === DENIED_MODULE));
    t.comment(`the slowest page took ${slowest} ms`);
    t.ok(slowest < 5000, `a page takes ${slowest} ms`);
    const zips = await api<{ rows: Array<Record<string, string>> }>(`decisions?kind=zip&limit=50`);
    t.equal(zips.rows.length, 50);
    t.ok(zips.rows.every((r) => r.kind === 'zip'));
    // A filter that matches nothing ends without a cursor.
    const none = await api<{ rows: unknown[]; next?: string }>(
      `decisions?module=nothing.example/x&since=${new Date(trail.to.getTime() - 2 * 86_400_000).toISOString()}`,
    );
    t.same(none, { rows: [] });
  },
);

t.test('one record by id with its evidence', async (t) => {
  const rec = all.find(
    (r) =>
      r.type === 'decision' &&
      r.module === 'example.com/alpha' &&
      r.kind === 'zip' &&
      r.seq > 90_000,
  )!;
  const got = await api<{ id: string; record: AuditRecord }>(`record?id=:${rec.seq}`);
  t.equal(got.id, `:${rec.seq}`);
  t.same(got.record, rec);
  t.match(got.record, { evidence: { h1: /^h1:/, sumdb: { name: 'sum.golang.org' } } });
});

t.test('modules inventory and one module', async (t) => {
  const since = new Date(trail.to.getTime() - 8 * 86_400_000).toISOString();
  const inWindow = all.filter((r) => r.time! >= since);
  const inv = await api<{
    modules: Array<{ module: string; denied: number; vulns: string[]; license?: string }>;
  }>(`modules?since=${since}`);
  t.same(
    inv.modules.map((m) => m.module),
    [...MODULES].sort(),
  );
  const evil = inv.modules.find((m) => m.module === DENIED_MODULE)!;
  t.equal(
    evil.denied,
    inWindow.filter(
      (r) => r.type === 'decision' && r.module === DENIED_MODULE && r.decision === 'deny',
    ).length,
  );
  t.same(evil.vulns, ['VULNERABLE']);
  t.equal(inv.modules.find((m) => m.module === 'example.com/alpha')!.license, 'BSD-3-Clause');
  const one = await api<{
    versions: Array<{ version: string; denied: number; codes: string[]; evidenceId?: string }>;
  }>(`module?module=${encodeURIComponent(DENIED_MODULE)}&since=${since}`);
  const v0 = one.versions.find((v) => v.version === 'v0.1.0')!;
  t.ok(v0.denied > 0);
  t.same(v0.codes, ['VERSION_BANNED']);
  t.match(v0.evidenceId, /^:\d+$/);
});

t.test('overview counts the trail per bucket', async (t) => {
  const since = new Date(trail.to.getTime() - 6 * 86_400_000).toISOString();
  const until = new Date(trail.to.getTime() + 1000).toISOString();
  const o = await api<{
    buckets: Array<{ requests: number; allow: number; deny: number; error: number }>;
    gateway: Record<string, unknown>;
  }>(`overview?since=${since}&until=${until}&buckets=40`);
  t.equal(o.buckets.length, 40);
  const sum = (k: 'requests' | 'allow' | 'deny' | 'error') =>
    o.buckets.reduce((n, b) => n + b[k], 0);
  const recs = all.filter((r) => r.time! >= since && r.time! < until);
  t.equal(sum('deny'), recs.filter((r) => r.type === 'decision' && r.decision === 'deny').length);
  t.equal(sum('error'), recs.filter((r) => r.type === 'access' && r.status >= 400).length);
  t.equal(sum('requests'), recs.filter((r) => r.type === 'decision' || r.type === 'access').length);
  t.match(o.gateway, {
    cache: { hit: Number },
    upstreams: { ok: Boolean },
    sumdb: null,
    vulndb: null,
  });
});

t.test(
  'integrity: checkpoints with signatures, verify now runs audit verify in the background',
  async (t) => {
    const i = await api<{
      chains: Array<{
        replica: string;
        checkpoints: Array<{ valid: boolean; signatures: string[] }>;
      }>;
    }>('integrity');
    t.equal(i.chains.length, 1);
    t.ok(i.chains[0]!.checkpoints.length >= 3);
    t.ok(
      i.chains[0]!.checkpoints.every(
        (c) => c.valid && c.signatures[0]!.startsWith('\u2014 modgate-audit'),
      ),
    );
    const started = await get('/console/api/integrity/verify', AUDITOR, 'POST');
    t.equal(started.status, 202);
    const again = await get('/console/api/integrity/verify', AUDITOR, 'POST');
    t.equal(JSON.parse(again.text).id, JSON.parse(started.text).id, 'one run at a time');
    const deadline = Date.now() + 60_000;
    let run: { state: string; progress: number; verdicts: Array<{ ok: boolean; records: number }> };
    do {
      run = await api('integrity/verify');
      if (run.state !== 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    t.equal(run.state, 'done');
    t.equal(run.progress, 1);
    t.equal(run.verdicts[0]!.ok, true);
    t.ok(run.verdicts[0]!.records > trail.records, "the generated records and the gateway's own");
  },
);

t.test('exports equal the CLI: audit export and audit query --format csv', async (t) => {
  const since = new Date(trail.to.getTime() - 5 * 86_400_000).toISOString();
  const until = new Date(trail.to.getTime() - 86_400_000).toISOString();
  const sbom = await get(`/console/api/export/sbom?since=${since}&until=${until}`, AUDITOR);
  t.equal(sbom.status, 200);
  t.match(sbom.headers['content-disposition'], /attachment/);
  const cli = await modgate([
    'audit',
    'export',
    '--data',
    data,
    '--since',
    since,
    '--until',
    until,
  ]);
  t.equal(cli.code, 0, cli.stderr);
  const strip = (s: string) => {
    const b = JSON.parse(s) as { serialNumber?: string; metadata: { timestamp?: string } };
    delete b.serialNumber;
    delete b.metadata.timestamp;
    return b;
  };
  t.same(strip(sbom.text), strip(cli.stdout));
  t.ok((JSON.parse(sbom.text) as { components: unknown[] }).components.length > 10);

  const q = `module=${encodeURIComponent(DENIED_MODULE)}&decision=deny&since=${since}&until=${until}`;
  const csv = await get(`/console/api/export/csv?${q}`, AUDITOR);
  t.equal(csv.status, 200);
  const cliCsv = await modgate([
    'audit',
    'query',
    '--data',
    data,
    '--format',
    'csv',
    '--module',
    DENIED_MODULE,
    '--decision',
    'deny',
    '--since',
    since,
    '--until',
    until,
  ]);
  t.equal(cliCsv.code, 0, cliCsv.stderr);
  t.equal(csv.text, cliCsv.stdout);
  t.ok(csv.text.split('\r\n').length > 100);
});
