import t from 'tap';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { createFakeSumdb, startFakeSumdb } from '../helpers/fake-sumdb.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { hashGoMod } from '../../src/integrity/dirhash.js';
import { hashZipFile } from '../../src/integrity/zip.js';
import { testdir } from '../helpers/testdir.js';

t.test('a tampered TOFU ledger entry is refused, never re-trusted', async (t) => {
  const mod = await makeModule('corp.example/lib', 'v1.0.0');
  const up = await startFakeUpstream([mod]);
  const dir = testdir(t);
  const audit = recordingAudit();
  const raw = {
    upstream: up.url,
    routes: [{ pattern: 'corp.example', upstream: up.url, private: true }],
  };
  const gw = await startTestGateway(dir, raw, { audit });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  const url = `${gw.url}/corp.example/lib/@v/v1.0.0.mod`;
  t.equal((await request(url)).statusCode, 200);
  // Forget the cached copy (so the ledger is consulted again) and edit the ledger.
  const cached = path.join(dir, 'store', 'cache', 'corp.example', 'lib', '@v', 'v1.0.0.mod');
  await gw.close();
  await rm(cached);
  await rm(`${cached}.evidence.json`);
  const tofuDir = path.join(dir, 'store', 'tofu');
  const [entry] = await readdir(tofuDir);
  const file = path.join(tofuDir, entry!);
  const env = JSON.parse(await readFile(file, 'utf8')) as { body: string };
  const body = JSON.parse(env.body) as { h1: string };
  body.h1 = hashGoMod('module corp.example/lib\nrequire evil.example/x v1.0.0\n');
  await writeFile(file, JSON.stringify({ ...env, body: JSON.stringify(body) }));

  const again = await startTestGateway(dir, raw, { audit });
  t.teardown(() => again.close());
  const res = await request(`${again.url}/corp.example/lib/@v/v1.0.0.mod`);
  t.equal(res.statusCode, 403);
  t.match(
    await res.body.text(),
    /^SECURITY ERROR: the TOFU ledger entry for corp\.example\/lib@v1\.0\.0\/go\.mod/,
  );
  await t.rejects(stat(cached), 'nothing cached');
  t.ok(
    audit.events.some((e) => e.event === 'TOFU_TAMPERED'),
    'security event recorded',
  );
  t.ok(
    audit.decisions.some((d) => d.decision === 'error' && d.codes.includes('TOFU_TAMPERED')),
    'the refusal is in the decision records',
  );
  t.equal((await readFile(file, 'utf8')).includes(body.h1), true, 'the ledger is left as found');
});

t.test('a stored tree head that does not verify stops the start', async (t) => {
  const mod = await makeModule('example.com/safe', 'v1.0.0');
  const zipFile = path.join(testdir(t), 'm.zip');
  await writeFile(zipFile, mod.zip);
  const db = await startFakeSumdb({
    records: [
      {
        path: mod.path,
        version: mod.version,
        h1: await hashZipFile(zipFile),
        modH1: hashGoMod(mod.mod),
      },
    ],
  });
  const up = await startFakeUpstream([mod]);
  t.teardown(async () => {
    await up.close();
    await db.stop();
  });
  const dir = path.join(testdir(t), 'data');
  const raw = { upstream: up.url, sumdb: `${db.verifierKey} ${db.url}` };
  const gw = await startTestGateway(dir, raw);
  t.equal((await request(`${gw.url}/example.com/safe/@v/v1.0.0.zip`)).statusCode, 200);
  await gw.close();
  const head = path.join(dir, 'sumdb', ...db.name.split('/'), 'latest');
  const good = await readFile(head);

  // A head of the same name signed by another key.
  const rogue = await createFakeSumdb({ name: db.name });
  await writeFile(head, await rogue.signedHead());
  await t.rejects(startTestGateway(dir, raw), {
    code: 'SUMDB_STATE_INVALID',
    message: /stored tree head of .* does not verify with the configured key/,
  });
  t.ok((await readFile(head)).equals(await rogue.signedHead()), 'not reset');

  // The genuine head with its tree text edited.
  await writeFile(
    head,
    good.toString('utf8').replace(/\n(\d+)\n/, (_m, n) => `\n${Number(n) + 1}\n`),
  );
  await t.rejects(startTestGateway(dir, raw), { code: 'SUMDB_STATE_INVALID' });

  await writeFile(head, good);
  const ok = await startTestGateway(dir, raw);
  t.teardown(() => ok.close());
  t.equal((await request(`${ok.url}/example.com/safe/@v/v1.0.0.zip`)).statusCode, 200);
});

t.test('temp files left by a crash are removed at start', async (t) => {
  const up = await startFakeUpstream([]);
  t.teardown(() => up.close());
  const dir = testdir(t);
  const spool = path.join(dir, 'store', '.tmp', '0123abcd.zip');
  const atomic = path.join(dir, 'sumdb', 'db', '.latest.0123456789ab.tmp');
  const download = path.join(dir, 'spool', '89abcdef.zip');
  await mkdir(path.dirname(download), { recursive: true });
  await writeFile(download, 'half a verification');
  await mkdir(path.dirname(spool), { recursive: true });
  await mkdir(path.dirname(atomic), { recursive: true });
  await writeFile(spool, 'half a download');
  await writeFile(atomic, 'half a head');
  const gw = await startTestGateway(dir, { upstream: up.url });
  t.teardown(() => gw.close());
  await t.rejects(stat(spool));
  await t.rejects(stat(atomic));
  await t.rejects(stat(download), 'the verification spool is emptied');
  t.equal((await stat(path.join(dir, 'keys', 'state.key'))).mode & 0o777, 0o600);
});
