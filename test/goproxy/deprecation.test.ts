/**
 * Deprecation end to end through the gateway: a `// Deprecated:` comment in
 * the module's latest go.mod becomes input.deprecated, and the shipped
 * policy's DEPRECATED warning (on by default) reaches the answer's
 * x-modgate-warning and the audit record. Deprecation is not waited for by
 * default (the zip is decided with the facts known), so the warning comes
 * once the background facts are in; with needsFacts: [deprecated] the first
 * answer already carries it.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import YAML from 'yaml';
import type { AuditRecord, DecisionEntry } from '../../src/audit/records.js';
import { readRecords } from '../../src/audit/query.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { testdir } from '../helpers/testdir.js';

const DEPRECATED = '// Deprecated: use example.com/new instead.\nmodule example.com/old\n';

async function upstream() {
  return startFakeUpstream([
    await makeModule('example.com/old', 'v1.0.0', { 'go.mod': 'module example.com/old\n' }),
    // The latest go.mod is the one that counts, as for the go command.
    await makeModule('example.com/old', 'v1.1.0', { 'go.mod': DEPRECATED }),
    await makeModule('example.com/fine', 'v1.0.0'),
  ]);
}

async function zip(base: string, mod: string, v: string) {
  const res = await request(`${base}/${mod}/@v/${v}.zip`);
  await res.body.dump();
  return { status: res.statusCode, warning: String(res.headers['x-modgate-warning'] ?? '') };
}

async function decisions(dataDir: string): Promise<DecisionEntry[]> {
  const out: AuditRecord[] = [];
  for await (const r of readRecords(path.join(dataDir, 'audit'))) out.push(r as AuditRecord);
  return out.filter((r): r is AuditRecord & DecisionEntry => r.type === 'decision');
}

t.test(
  'default policy: the DEPRECATED warning once the facts are in, and in the audit',
  async (t) => {
    const up = await upstream();
    const dir = testdir(t);
    const dataDir = path.join(dir, 'data');
    const gw = await startTestGateway(dataDir, { upstream: up.url });
    t.teardown(() => up.close());
    let warning = '';
    // Bounded: each try is a request; the background facts normally land within the first few.
    for (let i = 0; i < 100 && !warning.includes('DEPRECATED'); i++) {
      const r = await zip(gw.url, 'example.com/old', 'v1.0.0');
      t.equal(r.status, 200, 'a warning never refuses');
      warning = r.warning;
      if (!warning) await delay(50);
    }
    t.match(
      warning,
      /DEPRECATED: example\.com\/old is deprecated: use example\.com\/new instead\./,
    );
    const fine = await zip(gw.url, 'example.com/fine', 'v1.0.0');
    t.equal(fine.status, 200);
    t.notMatch(fine.warning, /DEPRECATED/, 'a module without the comment does not warn');
    await gw.close();
    const recs = await decisions(dataDir);
    t.ok(
      recs.some(
        (r) =>
          r.module === 'example.com/old' && r.decision === 'warn' && r.codes.includes('DEPRECATED'),
      ),
      'the audit record carries the warning',
    );
    t.notOk(recs.some((r) => r.module === 'example.com/fine' && r.codes.includes('DEPRECATED')));
  },
);

t.test('needsFacts: [deprecated] makes the first answer carry the warning', async (t) => {
  const up = await upstream();
  t.teardown(() => up.close());
  const dir = testdir(t);
  const dataFile = path.join(dir, 'data.yaml');
  await writeFile(dataFile, YAML.stringify({ needsFacts: ['deprecated'] }));
  const gw = await startTestGateway(path.join(dir, 'data'), {
    upstream: up.url,
    policy: { dataFile, budgetMs: 10_000 },
  });
  t.teardown(() => gw.close());
  const r = await zip(gw.url, 'example.com/old', 'v1.0.0');
  t.equal(r.status, 200);
  t.match(r.warning, /DEPRECATED: example\.com\/old is deprecated/);
});
