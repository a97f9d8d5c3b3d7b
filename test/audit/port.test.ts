import t from 'tap';
import path from 'node:path';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import { auditPort } from '../../src/audit/port.js';
import { queryAudit } from '../../src/audit/query.js';
import type { RequestContext } from '../../src/contracts.js';
import { purposeOf } from '../../src/http/purpose.js';
import { testdir } from '../helpers/testdir.js';

const ctx = (purpose?: string): RequestContext => ({
  requestId: 'r1',
  identity: { id: 'ci', method: 'bearer', groups: [] },
  address: '127.0.0.1',
  startedAt: Date.now(),
  signal: new AbortController().signal,
  ...(purpose ? { purpose } : {}),
});

t.test('a pre-flight request is recorded with its purpose; a build without one', async (t) => {
  const root = testdir(t);
  const key = await loadOrCreateAuditKey(path.join(root, 'k'));
  const dir = path.join(root, 'audit');
  const log = await AuditLog.open({ dir, key, checkpointIntervalSec: 0 });
  const port = auditPort(log, 'refuse', () => undefined);
  const base = { kind: 'info' as const, module: 'example.com/m', decision: 'allow' as const };
  await port.decision({ ...base, ctx: ctx('preflight'), codes: [], cache: 'miss' });
  await port.decision({ ...base, ctx: ctx(), codes: [], cache: 'miss' });
  await log.close();
  const decisions = [];
  for await (const r of queryAudit(dir, { types: ['decision'] })) decisions.push(r);
  t.equal(decisions.length, 2);
  t.match(decisions[0], { purpose: 'preflight' });
  t.notOk('purpose' in (decisions[1] ?? {}), 'no purpose field for ordinary traffic');
});

t.test('purposeOf keeps known purposes only', async (t) => {
  t.equal(purposeOf({ 'x-modgate-purpose': 'preflight' }), 'preflight');
  t.equal(purposeOf({ 'x-modgate-purpose': ' Preflight ' }), 'preflight');
  t.equal(purposeOf({}), undefined);
  t.equal(
    purposeOf({ 'x-modgate-purpose': 'anything\nelse' }),
    undefined,
    'client text is not recorded',
  );
  t.equal(purposeOf({ 'x-modgate-purpose': ['preflight', 'x'] }), undefined);
});
