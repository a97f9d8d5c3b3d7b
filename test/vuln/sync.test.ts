/**
 * The forward-only sync: each sync recorded with modified and sha256, an
 * older database refused and alarmed (the held copy stays), a bad copy never
 * kept, the held copy sealed on disk (an edited one is not loaded), and a URL
 * source fetching only the entries whose modified changed.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Agent } from 'undici';
import { StateSealer } from '../../src/storage/sealed.js';
import { UpstreamClient } from '../../src/upstream/client.js';
import { VulnService } from '../../src/vuln/service.js';
import { localSource, urlSource } from '../../src/vuln/source.js';
import { VulnStore, zipFiles } from '../../src/vuln/store.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { dbFiles, type EntrySpec } from './helpers/db.js';

const e1: EntrySpec = {
  id: 'GO-2026-0001',
  affected: [{ module: 'example.com/a', ranges: [[{ introduced: '0' }, { fixed: '1.2.0' }]] }],
};
const e2: EntrySpec = {
  id: 'GO-2026-0002',
  modified: '2026-02-01T00:00:00Z',
  affected: [{ module: 'example.com/b', ranges: [[{ introduced: '0' }]] }],
};

async function writeDb(dir: string, files: Map<string, Buffer>): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  for (const [p, b] of files) {
    await mkdir(path.dirname(path.join(dir, p)), { recursive: true });
    await writeFile(path.join(dir, p), b);
  }
}

const sealer = StateSealer.fromKey(Buffer.alloc(32, 7));

t.test('sync moves forward only, and every sync is in the audit trail', async (t) => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'modgate-vulnsync-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const src = path.join(tmp, 'src');
  await writeDb(src, dbFiles([e1], '2026-01-01T00:00:00Z'));
  const audit = recordingAudit();
  const alarms: string[] = [];
  const store = new VulnStore(path.join(tmp, 'data'), sealer);
  const svc = new VulnService({
    source: localSource(src),
    store,
    audit,
    onAlarm: (c) => alarms.push(c),
  });
  t.equal(svc.index, undefined, 'nothing held before the first sync');

  const first = await svc.sync();
  t.equal(first.outcome, 'updated');
  t.equal(first.modified, '2026-01-01T00:00:00Z');
  t.match(first.sha256, /^[0-9a-f]{64}$/);
  t.same(
    svc.index!.lookup('example.com/a', 'v1.0.0').map((f) => f.id),
    ['GO-2026-0001'],
  );
  const ev = audit.events.find((e) => e.event === 'vulndb_sync')!;
  t.same(
    [ev.details.modified, ev.details.sha256, ev.details.outcome],
    [first.modified, first.sha256, 'updated'],
  );

  t.equal((await svc.sync()).outcome, 'unchanged');
  t.equal(
    audit.events.filter((e) => e.event === 'vulndb_sync').length,
    2,
    'unchanged syncs are recorded too',
  );

  await writeDb(src, dbFiles([e1, e2], '2026-03-01T00:00:00Z'));
  const second = await svc.sync();
  t.equal(second.outcome, 'updated');
  t.not(second.sha256, first.sha256);
  t.same(
    svc.index!.lookup('example.com/b', 'v9.9.9').map((f) => f.id),
    ['GO-2026-0002'],
  );

  // Rollback: an older database is refused, alarmed, and the held copy stays.
  await writeDb(src, dbFiles([e1], '2026-01-15T00:00:00Z'));
  await t.rejects(svc.sync(), { code: 'VULNDB_ROLLBACK' });
  t.equal(svc.snapshot!.modified, '2026-03-01T00:00:00Z', 'the newer copy stays');
  t.ok(svc.index!.lookup('example.com/b', 'v1.0.0').length, 'its entries still answer');
  const rb = audit.events.find((e) => e.event === 'vulndb_rollback');
  t.equal(rb?.details.code, 'VULNDB_ROLLBACK');
  t.same(alarms, ['VULNDB_ROLLBACK']);

  // A broken copy is refused and nothing of it is kept.
  await writeDb(src, dbFiles([e1, e2], '2026-04-01T00:00:00Z'));
  await writeFile(path.join(src, 'ID', 'GO-2026-0002.json'), '{"id":"GO-2026-0002"');
  await t.rejects(svc.sync(), { code: 'VULNDB_INVALID' });
  t.equal(svc.snapshot!.modified, '2026-03-01T00:00:00Z');

  // A restart loads the held copy from disk, sealed.
  const again = new VulnService({
    source: localSource(src),
    store: new VulnStore(path.join(tmp, 'data'), sealer),
    audit,
  });
  await again.open();
  t.equal(again.snapshot?.sha256, second.sha256, 'the held copy survives a restart');
  // ...and a restart onto an older copy refuses it too.
  await writeDb(src, dbFiles([e1], '2026-01-15T00:00:00Z'));
  await t.rejects(again.sync(), { code: 'VULNDB_ROLLBACK' });
});

t.test('a held copy edited on disk is not loaded', async (t) => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'modgate-vulnsync-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const src = path.join(tmp, 'src');
  await writeDb(src, dbFiles([e1, e2], '2026-03-01T00:00:00Z'));
  const data = path.join(tmp, 'data');
  const audit = recordingAudit();
  await new VulnService({
    source: localSource(src),
    store: new VulnStore(data, sealer),
    audit,
  }).sync();
  // Swap in an older, internally consistent copy: its hash is not the sealed one.
  await writeFile(
    path.join(data, 'vulndb', 'db.zip'),
    await zipFiles(dbFiles([e1], '2026-01-01T00:00:00Z')),
  );
  const svc = new VulnService({
    source: localSource(src),
    store: new VulnStore(data, sealer),
    audit,
  });
  await svc.open();
  t.equal(svc.index, undefined, 'the replaced copy is not used');
  t.ok(
    audit.events.some((e) => e.event === 'vulndb_held_invalid'),
    'and it is alarmed',
  );
  // The state sealed with another key does not open either.
  const other = new VulnService({
    source: localSource(src),
    store: new VulnStore(data, StateSealer.fromKey(Buffer.alloc(32, 9))),
    audit,
  });
  await other.open();
  t.equal(other.index, undefined);
});

t.test('a URL source fetches only entries whose modified changed', async (t) => {
  let files = dbFiles([e1, e2], '2026-03-01T00:00:00Z');
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.url!);
    const body = files.get(req.url!.slice(1));
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const dispatcher = new Agent();
  const client = new UpstreamClient({
    dispatcher,
    headersTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
    retries: 0,
    retryBaseMs: 1,
  });
  t.teardown(async () => {
    await client.close();
    await dispatcher.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const svc = new VulnService({ source: urlSource(url, client), audit: recordingAudit() });
  await svc.sync();
  t.ok(seen.includes('/ID/GO-2026-0001.json') && seen.includes('/ID/GO-2026-0002.json'));
  const e2b = { ...e2, modified: '2026-04-01T00:00:00Z', summary: 'updated' };
  files = dbFiles([e1, e2b], '2026-04-01T00:00:00Z');
  seen.length = 0;
  await svc.sync();
  t.notOk(seen.includes('/ID/GO-2026-0001.json'), 'an unchanged entry is not fetched again');
  t.ok(seen.includes('/ID/GO-2026-0002.json'), 'a changed one is');
  t.equal(svc.index!.entry('GO-2026-0002')?.summary, 'updated');
  // A 404 on an entry the index lists fails the sync, keeping the held copy.
  files = dbFiles([e1, { ...e2b, modified: '2026-05-01T00:00:00Z' }], '2026-05-01T00:00:00Z');
  files.delete('ID/GO-2026-0002.json');
  await t.rejects(svc.sync(), { code: 'VULNDB_UNAVAILABLE' });
  t.equal(svc.snapshot!.modified, '2026-04-01T00:00:00Z');
});
