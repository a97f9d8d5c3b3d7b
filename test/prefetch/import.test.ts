import t, { type Test } from 'tap';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { readManifest } from '../../src/prefetch/import.js';
import { startExportServer } from '../../src/prefetch/export-server.js';
import { keepLookup, lookupFile, withLocalLookups } from '../../src/upstream/sumdb-local.js';
import { lockDataDir } from '../../src/storage/data-lock.js';
import { isModgateError } from '../../src/errors.js';
import { testdir } from '../helpers/testdir.js';

async function refused(t: Test, p: Promise<unknown>, why: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isModgateError(err, 'EXPORT_INVALID'), String(err));
  t.match((err as Error).message, why);
}

t.test('the manifest only names module versions, and bad ones are refused', async (t) => {
  const dir = testdir(t);
  const file = path.join(dir, 'modgate-export.json');
  await refused(t, readManifest(dir), /not a readable export manifest/);
  const write = (modules: unknown) =>
    writeFile(file, JSON.stringify({ format: 'modgate-export/1', modules }));
  await writeFile(file, '{"modules": []}');
  await refused(t, readManifest(dir), /no "format"/);
  await write([{ module: 'example.com/a' }]);
  await refused(t, readManifest(dir), /modules\[0\] has no module and version/);
  await write([{ module: '../etc', version: 'v1.0.0', kinds: ['mod'] }]);
  await refused(t, readManifest(dir), /modules\[0\]: /);
  await write([{ module: 'example.com/a', version: 'v1.0', kinds: ['mod'] }]);
  await refused(t, readManifest(dir), /not canonical/);
  await write([{ module: 'example.com/a', version: 'v1.0.0', kinds: ['zip', 'exe'] }]);
  await refused(t, readManifest(dir), /kinds must be/);
  await write([{ module: 'example.com/a', version: 'v1.0.0', kinds: ['info', 'mod'] }]);
  t.match(await readManifest(dir), [{ module: 'example.com/a', version: 'v1.0.0' }]);
});

t.test(
  'the export server serves files under DIR and nothing else, and keeps lookups',
  async (t) => {
    const root = testdir(t, {
      export: {
        'example.com': { a: { '@v': { 'v1.0.0.mod': 'module example.com/a\n' } } },
        sumdb: { 'sum.example': { lookup: { 'example.com': { 'a@v1.0.0': 'record' } } } },
      },
      secret: 'outside',
    });
    const dir = path.join(root, 'export');
    await symlink(path.join(root, 'secret'), path.join(dir, 'link'));
    const s = await startExportServer(dir, 'sum.example');
    t.teardown(() => s.close());
    const get = async (p: string) => {
      const r = await request(`${s.url}${p}`);
      return { status: r.statusCode, body: await r.body.text() };
    };
    t.same(await get('/example.com/a/@v/v1.0.0.mod'), {
      status: 200,
      body: 'module example.com/a\n',
    });
    t.equal((await get('/sumdb/sum.example/supported')).status, 200);
    t.equal((await get('/sumdb/sum.example/lookup/example.com/a@v1.0.0')).body, 'record');
    t.same([...s.lookups.keys()], ['/lookup/example.com/a@v1.0.0']);
    for (const p of [
      '/link',
      '/../secret',
      '/%2e%2e/secret',
      '/example.com/a/@v/missing',
      '/example.com',
    ])
      t.equal((await get(p)).status, 404, p);
    const post = await request(`${s.url}/example.com/a/@v/v1.0.0.mod`, { method: 'POST' });
    await post.body.dump();
    t.equal(post.statusCode, 404);
  },
);

t.test('kept lookups are read before the database, at safe paths only', async (t) => {
  const data = testdir(t);
  t.equal(lookupFile(data, 'sum.example', '/lookup/../x@v1.0.0'), undefined);
  t.equal(lookupFile(data, '../x', '/lookup/example.com/a@v1.0.0'), undefined);
  t.equal(lookupFile(data, 'sum.example', '/tile/8/0/000'), undefined);
  t.equal(
    lookupFile(data, 'sum.example', '/lookup/example.com/!a@v1.0.0'),
    path.join(data, 'sumdb', 'sum.example', 'lookup', 'example.com', '!a@v1.0.0'),
  );
  const asked: string[] = [];
  const tr = withLocalLookups(
    { get: async (p) => (asked.push(p), Buffer.from('remote')) },
    data,
    'sum.example',
  );
  t.equal((await tr.get('/lookup/example.com/a@v1.0.0'))?.toString(), 'remote');
  await keepLookup(data, 'sum.example', '/lookup/example.com/a@v1.0.0', Buffer.from('kept'));
  await keepLookup(data, 'sum.example', '/lookup/../bad@v1', Buffer.from('no'));
  t.equal((await tr.get('/lookup/example.com/a@v1.0.0'))?.toString(), 'kept');
  t.equal((await tr.get('/latest'))?.toString(), 'remote');
  t.same(asked, ['/lookup/example.com/a@v1.0.0', '/latest']);
});

t.test(
  'one process holds a data folder: a live holder refuses, a dead one is taken over',
  async (t) => {
    const data = testdir(t);
    const lock = await lockDataDir(data, 'import');
    // The same process may take it again (one gateway per folder and process is its business).
    await (await lockDataDir(data, 'import')).release();
    await lock.release();
    await mkdir(data, { recursive: true });
    // A live holder: the parent process, named by its pid and start time as the lock names them.
    const stat = await readFile(`/proc/${process.ppid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    await writeFile(path.join(data, 'serve.lock'), `${process.ppid} ${start}\n`);
    const err = await lockDataDir(data, 'import').then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(isModgateError(err, 'DATA_DIR_BUSY'), String(err));
    await writeFile(path.join(data, 'serve.lock'), '999999999 1\n');
    const taken = await lockDataDir(data, 'import');
    await taken.release();
  },
);
