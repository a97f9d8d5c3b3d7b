/**
 * The GOVULNDB mirror: modgate syncs the snapshot (air-gapped: a local
 * vulndb.zip), records the sync in the audit trail, and serves the v1 layout
 * at /vuln/ behind the front door. The real govulncheck, pointed at it with
 * -db, reports the known entries of a fixture module (golang.org/x/text
 * v0.3.0 from cmd/go's test proxy) and nothing else reaches a database.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { parseTxtar } from '../helpers/txtar.js';
import { td } from '../helpers/testdata.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { govulncheck, parseStream } from './helpers/govulncheck.js';
import { goEnv } from '../helpers/gocmd.js';
import { execFile } from 'node:child_process';
import yazl from 'yazl';

async function fixtureProxy(dir: string): Promise<void> {
  const ar = parseTxtar(await readFile(td('go', 'mod', 'golang.org_x_text_v0.3.0.txt'), 'utf8'));
  const v = path.join(dir, 'golang.org', 'x', 'text', '@v');
  await mkdir(v, { recursive: true });
  const z = new yazl.ZipFile();
  for (const f of ar.files) {
    if (f.name === '.mod') await writeFile(path.join(v, 'v0.3.0.mod'), f.data);
    else if (f.name === '.info') await writeFile(path.join(v, 'v0.3.0.info'), f.data);
    else z.addBuffer(Buffer.from(f.data), `golang.org/x/text@v0.3.0/${f.name}`);
  }
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream) chunks.push(c as Buffer);
  await writeFile(path.join(v, 'v0.3.0.zip'), Buffer.concat(chunks));
}

t.test('govulncheck reads the database through modgate /vuln/', async (t) => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'modgate-vulnmirror-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const audit = recordingAudit();
  const gw = await startTestGateway(
    path.join(tmp, 'data'),
    { vulndb: { enabled: true, source: td('vulndb', 'vulndb-v1-20261105.zip') } },
    { audit },
  );
  t.teardown(() => gw.close());
  const r = await gw.vulndb!.sync();
  t.equal(r.modified, '2026-11-05T23:49:57Z');
  const rec = audit.events.find((e) => e.event === 'vulndb_sync');
  t.ok(rec, 'the sync is in the audit trail');
  t.equal(rec?.details.modified, '2026-11-05T23:49:57Z');
  t.match(rec?.details.sha256, /^[0-9a-f]{64}$/);

  const db = await gw.app.inject({ url: '/vuln/index/db.json' });
  t.equal(db.statusCode, 200);
  t.same(JSON.parse(db.body), { modified: '2026-11-05T23:49:57Z' });
  const gz = await gw.app.inject({ url: '/vuln/ID/GO-2020-0015.json.gz' });
  t.equal(gz.statusCode, 200);
  t.equal(JSON.parse(gunzipSync(gz.rawPayload).toString()).id, 'GO-2020-0015');
  for (const bad of [
    '/vuln/ID/..%2Findex%2Fdb.json',
    '/vuln/ID/GO-2020-0015.json?x=1',
    '/vuln/etc/passwd',
    '/vuln/ID/GO-1999-0001.json',
  ])
    t.not((await gw.app.inject({ url: bad })).statusCode, 200, `${bad} is refused`);

  const proxy = path.join(tmp, 'proxy');
  await fixtureProxy(proxy);
  const prog = path.join(tmp, 'prog');
  await mkdir(prog, { recursive: true });
  await writeFile(
    path.join(prog, 'go.mod'),
    'module example.com/prog\n\ngo 1.22\n\nrequire golang.org/x/text v0.3.0\n',
  );
  await writeFile(
    path.join(prog, 'main.go'),
    'package main\n\nimport _ "golang.org/x/text/language"\n\nfunc main() {}\n',
  );
  const env = await goEnv(tmp, {
    GOPROXY: `file://${proxy}`,
    GOSUMDB: 'off',
    GOFLAGS: '-mod=mod -modcacherw',
  });
  const bin = await govulncheck();
  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      bin,
      ['-db', `${gw.url}/vuln`, '-scan', 'module', '-format', 'json'],
      { cwd: prog, env, timeout: 300_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
    ),
  );
  t.equal(out.code, 0, out.stderr);
  const msgs = parseStream(out.stdout);
  const cfg = msgs.find((m) => 'config' in m)?.config as { db: string; db_last_modified: string };
  t.equal(cfg.db, `${gw.url}/vuln`);
  t.equal(cfg.db_last_modified, '2026-11-05T23:49:57Z');
  const ids = new Set(
    msgs
      .filter((m) => 'finding' in m)
      .map((m) => m.finding as { osv: string; trace: Array<{ module: string }> })
      .filter((f) => f.trace[0]!.module === 'golang.org/x/text')
      .map((f) => f.osv),
  );
  t.ok(ids.has('GO-2020-0015'), 'govulncheck reports GO-2020-0015 through modgate');
  t.ok(ids.has('GO-2021-0113'));
  t.ok(ids.has('GO-2022-1059'));
});

t.test('the mirror is behind the front door', async (t) => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'modgate-vulnmirror-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const gw = await startTestGateway(path.join(tmp, 'data'), {
    auth: { required: true, tokens: [{ id: 'ci', sha256: 'a'.repeat(64) }] },
    vulndb: { enabled: true, source: td('vulndb', 'vulndb-v1-20261105.zip') },
  });
  t.teardown(() => gw.close());
  await gw.vulndb!.sync();
  const res = await gw.app.inject({ url: '/vuln/index/db.json' });
  t.equal(res.statusCode, 401, 'no token, no database');
});

t.test('without vulndb the mirror answers 404; before a copy is held, 503', async (t) => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'modgate-vulnmirror-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const off = await startTestGateway(path.join(tmp, 'off'), {});
  t.teardown(() => off.close());
  t.equal((await off.app.inject({ url: '/vuln/index/db.json' })).statusCode, 404);
  const missing = await startTestGateway(path.join(tmp, 'missing'), {
    vulndb: { enabled: true, source: path.join(tmp, 'nothing-here.zip') },
  });
  t.teardown(() => missing.close());
  await t.rejects(missing.vulndb!.sync(), { code: 'VULNDB_UNAVAILABLE' });
  const res = await missing.app.inject({ url: '/vuln/index/db.json' });
  t.equal(res.statusCode, 503);
  t.match(res.body, /VULNDB_NOT_LOADED|not loaded|no verified copy/);
});
