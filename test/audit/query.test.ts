import t from 'tap';
import path from 'node:path';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import {
  csvCell,
  formatRecords,
  globToRegExp,
  parseTimeArg,
  queryAudit,
  type QueryFilter,
} from '../../src/audit/query.js';
import type { AuditEntry, AuditRecord, Decision } from '../../src/audit/records.js';
import { buildReport, formatReport } from '../../src/audit/report.js';
import { testdir } from '../helpers/testdir.js';

const MODULES = [
  'github.com/acme/lib',
  'github.com/acme/tool/v2',
  'golang.org/x/mod',
  'evil.example/pkg',
];

function entries(): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (let i = 0; i < 40; i++) {
    const module = MODULES[i % 4] as string;
    const decision: Decision = module.startsWith('evil') ? 'deny' : i % 5 === 0 ? 'warn' : 'allow';
    out.push({
      type: 'decision',
      time: new Date(Date.UTC(2024, 5, 1 + Math.floor(i / 10), i % 10)).toISOString(),
      requestId: `req-${i}`,
      client: { id: `team-${i % 3}`, method: 'mtls', groups: ['g'], address: '10.1.1.1' },
      kind: 'zip',
      module,
      version: `v1.${i % 2}.0`,
      decision,
      codes:
        decision === 'deny'
          ? ['DENY_LIST', ...(i % 8 === 3 ? ['VULN'] : [])]
          : decision === 'warn'
            ? ['LICENSE_UNKNOWN']
            : [],
      policyRevision: 'rev1',
      cache: i % 2 ? 'hit' : 'miss',
      evidence: { h1: `h1:${i}`, zipSha256: 'cd'.repeat(32) },
    });
    out.push({
      type: 'completion',
      time: new Date(Date.UTC(2024, 5, 1 + Math.floor(i / 10), i % 10, 1)).toISOString(),
      requestId: `req-${i}`,
      outcome: 'ok',
      bytes: 100,
      durationMs: 3,
      status: 200,
    });
  }
  out.push({
    type: 'security',
    time: '2024-06-02T05:00:00.000Z',
    event: 'CHECKSUM_MISMATCH',
    details: { module: 'golang.org/x/mod', version: 'v1.0.0' },
  });
  out.push({
    type: 'security',
    time: '2024-06-03T05:00:00.000Z',
    event: 'CHECKSUM_MISMATCH',
    details: { module: 'golang.org/x/mod', version: 'v1.1.0' },
  });
  out.push({
    type: 'security',
    time: '2024-06-03T06:00:00.000Z',
    event: 'PIN_MISMATCH',
    details: { host: 'upstream' },
  });
  return out;
}

async function collect(it: AsyncIterable<AuditRecord>): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

async function text(it: AsyncIterable<string>): Promise<string> {
  let s = '';
  for await (const x of it) s += x;
  return s;
}

t.test('query, report and formats over a generated trail', async (t) => {
  const root = testdir(t);
  const key = await loadOrCreateAuditKey(path.join(root, 'k'));
  const dir = path.join(root, 'audit');
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  for (const e of entries()) await log.append(e);
  await log.close();
  const q = (f: QueryFilter) => collect(queryAudit(dir, f));

  t.equal((await q({ types: ['decision'] })).length, 40);
  const acme = await q({ module: 'github.com/acme/*' });
  t.equal(acme.length, 20);
  t.ok(acme.every((r) => r.type === 'decision' && r.module.startsWith('github.com/acme/')));
  t.equal((await q({ module: 'github.com/acme/tool/v?' })).length, 10);
  t.equal((await q({ module: 'github.com/acme' })).length, 0, 'a glob matches the whole path');
  t.equal(
    (await q({ module: 'golang.org/x/mod', version: 'v1.0.0' })).length,
    11,
    '10 decisions and 1 security event',
  );
  t.equal(
    (await q({ module: 'golang.org/x/mod', version: 'v1.1.0' })).length,
    1,
    'the other security event',
  );
  t.equal((await q({ client: 'team-1' })).length, 13);
  t.equal((await q({ decision: 'deny' })).length, 10);
  t.equal((await q({ code: 'VULN' })).length, 5);
  t.equal((await q({ code: 'CHECKSUM_MISMATCH' })).length, 2);
  const since = await q({
    since: new Date('2024-06-03T00:00:00Z'),
    until: new Date('2024-06-04T00:00:00Z'),
    types: ['decision'],
  });
  t.same(
    since.map((r) => (r.type === 'decision' ? r.requestId : '')),
    Array.from({ length: 10 }, (_, i) => `req-${20 + i}`),
  );

  const json = await text(formatRecords(queryAudit(dir, { decision: 'deny' }), 'json'));
  const objs = json
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditRecord);
  t.equal(objs.length, 10);
  t.ok(objs.every((o) => o.type === 'decision' && o.decision === 'deny'));
  const csv = await text(formatRecords(queryAudit(dir, { decision: 'deny' }), 'csv'));
  const rows = csv.trim().split('\r\n');
  t.equal(rows[0], 'seq,time,type,kind,client,module,version,decision,codes,requestId');
  t.equal(rows.length, 11);
  t.match(
    rows[1],
    /,decision,zip,team-\d,evil\.example\/pkg,v1\.1\.0,deny,DENY_LIST( VULN)?,req-\d+$/,
  );
  const table = await text(formatRecords(queryAudit(dir, { decision: 'warn' }), 'table'));
  const tl = table.trim().split('\n');
  t.match(tl[0], /^SEQ\s+TIME\s+TYPE\s+KIND\s+CLIENT\s+MODULE/);
  t.match(tl[1], /\sdecision\s+zip\s+team-/, 'the kind of each decision is shown');
  t.equal(tl.length, 1 + 6);
  await t.rejects(text(formatRecords(queryAudit(dir), 'xml' as never)), {
    code: 'AUDIT_QUERY_INVALID',
  });

  const rep = await buildReport(queryAudit(dir));
  t.same(rep.decisions, { allow: 24, warn: 6, deny: 10, not_found: 0 });
  t.same(
    rep.modules.map((m) => m.module),
    ['github.com/acme/lib', 'github.com/acme/tool/v2', 'golang.org/x/mod'],
  );
  const lib = rep.modules[0];
  t.match(lib, {
    requests: 10,
    versions: ['v1.0.0'],
    clients: ['team-0', 'team-1', 'team-2'],
    firstSeen: '2024-06-01T00:00:00.000Z',
    lastSeen: '2024-06-04T06:00:00.000Z',
  });
  t.same(rep.denials, [
    { code: 'DENY_LIST', count: 10, modules: ['evil.example/pkg'] },
    { code: 'VULN', count: 5, modules: ['evil.example/pkg'] },
  ]);
  t.same(
    rep.warnings,
    [
      {
        code: 'LICENSE_UNKNOWN',
        count: 6,
        modules: ['github.com/acme/lib', 'github.com/acme/tool/v2', 'golang.org/x/mod'],
      },
    ],
    'the warnings counted are listed by code',
  );
  t.match(rep.security, [
    {
      event: 'CHECKSUM_MISMATCH',
      count: 2,
      firstSeen: '2024-06-02T05:00:00.000Z',
      lastSeen: '2024-06-03T05:00:00.000Z',
    },
    { event: 'PIN_MISMATCH', count: 1 },
  ]);
  t.same(JSON.parse(formatReport(rep, 'json')), JSON.parse(JSON.stringify(rep)));
  const rt = formatReport(rep, 'table');
  t.match(rt, /Modules served \(3\)/);
  t.match(rt, /DENY_LIST\s+10\s+evil\.example\/pkg/);
  t.match(rt, /CHECKSUM_MISMATCH\s+2/);
  t.match(
    rt,
    /Warnings by code \(1\)\nCODE\s+COUNT\s+MODULES\nLICENSE_UNKNOWN\s+6\s+github\.com\/acme\/lib/,
  );
});

t.test('helpers', async (t) => {
  const now = new Date('2024-06-10T00:00:00Z');
  t.equal(parseTimeArg('24h', now).toISOString(), '2024-06-09T00:00:00.000Z');
  t.equal(parseTimeArg('7d', now).toISOString(), '2024-06-03T00:00:00.000Z');
  t.equal(parseTimeArg('2024-01-02T03:04:05Z').toISOString(), '2024-01-02T03:04:05.000Z');
  t.throws(() => parseTimeArg('yesterday'), { code: 'AUDIT_QUERY_INVALID' });
  t.throws(() => parseTimeArg('5y'), { code: 'AUDIT_QUERY_INVALID' });
  t.ok(globToRegExp('a.b/*').test('a.b/c/d'));
  t.notOk(globToRegExp('a.b/*').test('aXb/c'), 'dots are literal');
  t.notOk(globToRegExp('(x)+').test('xx'), 'regex syntax is literal');
  t.ok(globToRegExp('github.com/my-org/*-go').test('github.com/my-org/lib-go'), 'dashes');
  t.ok(globToRegExp('[a]{1}|^$\\').test('[a]{1}|^$\\'));
  t.equal(
    csvCell('=HYPERLINK("x")'),
    '"\'=HYPERLINK(""x"")"',
    'formula injection is defused and quotes doubled',
  );
  t.equal(csvCell('a,b'), '"a,b"');
  t.equal(csvCell('plain'), 'plain');
});
