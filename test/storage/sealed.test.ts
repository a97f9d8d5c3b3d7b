import t from 'tap';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { StateSealer } from '../../src/storage/sealed.js';
import { removeStaleTemps, writeFileAtomic } from '../../src/storage/atomic.js';
import { FsBlobStore } from '../../src/storage/fs.js';
import { testdir } from '../helpers/testdir.js';

t.test('a sealed record opens only under its purpose and name, unchanged', async (t) => {
  const s = StateSealer.fromKey(randomBytes(32));
  const sealed = s.seal('evidence', 'cache/a.zip', '{"sha256":"aa"}');
  t.equal(s.open('evidence', 'cache/a.zip', sealed), '{"sha256":"aa"}');
  t.equal(s.open('evidence', 'cache/b.zip', sealed), null, 'moved to another name');
  t.equal(s.open('tofu', 'cache/a.zip', sealed), null, 'used for another purpose');
  const env = JSON.parse(sealed) as { body: string; mac: string };
  const edited = JSON.stringify({ ...env, body: '{"sha256":"bb"}' });
  t.equal(s.open('evidence', 'cache/a.zip', edited), null, 'body edited, MAC kept');
  t.equal(s.open('evidence', 'cache/a.zip', '{"sha256":"aa"}'), null, 'unsealed');
  t.equal(s.open('evidence', 'cache/a.zip', 'not json'), null);
  t.equal(s.open('evidence', 'cache/a.zip', JSON.stringify({ ...env, mac: 'ab' })), null);
  const other = StateSealer.fromKey(randomBytes(32));
  t.equal(other.open('evidence', 'cache/a.zip', sealed), null, 'another key');
});

t.test('the state key is created once with mode 0600 and reused', async (t) => {
  const file = path.join(testdir(t), 'keys', 'state.key');
  const a = await StateSealer.loadOrCreate(file);
  t.equal((await stat(file)).mode & 0o777, 0o600);
  const first = await readFile(file, 'utf8');
  const b = await StateSealer.loadOrCreate(file);
  t.equal(await readFile(file, 'utf8'), first, 'not replaced');
  t.equal(b.open('x', 'y', a.seal('x', 'y', 'z')), 'z', 'same key');
});

t.test('a state key file that is not a key stops with STATE_KEY_INVALID', async (t) => {
  const file = path.join(testdir(t), 'state.key');
  await writeFile(file, 'short\n');
  await t.rejects(StateSealer.loadOrCreate(file), { code: 'STATE_KEY_INVALID' });
});

t.test('temp files left by a crash are removed, and nothing else', async (t) => {
  const root = testdir(t);
  await mkdir(path.join(root, 'sumdb', 'db', 'tile'), { recursive: true });
  const stale = path.join(root, 'sumdb', 'db', '.latest.0123456789ab.tmp');
  const deep = path.join(root, 'sumdb', 'db', 'tile', '.x.abcdefabcdef.tmp');
  const keep = path.join(root, 'sumdb', 'db', 'latest');
  const lookalike = path.join(root, 'sumdb', 'db', 'notes.tmp');
  for (const f of [stale, deep, keep, lookalike]) await writeFile(f, 'x');
  await writeFileAtomic(path.join(root, 'sumdb', 'db', 'fresh'), 'y');
  await mkdir(path.join(root, 'store'), { recursive: true });
  const skipped = path.join(root, 'store', '.y.abcdefabcdef.tmp');
  await writeFile(skipped, 'x');
  t.equal(await removeStaleTemps(root, ['store']), 2);
  await t.rejects(stat(stale));
  await t.rejects(stat(deep));
  for (const f of [keep, lookalike, skipped, path.join(root, 'sumdb', 'db', 'fresh')])
    t.ok(await stat(f), `${path.basename(f)} kept`);
});

t.test('the blob store clears its temp folder (half written blobs)', async (t) => {
  const root = testdir(t);
  const store = new FsBlobStore(root);
  await mkdir(path.join(root, '.tmp'), { recursive: true });
  await writeFile(path.join(root, '.tmp', 'abc.tmp'), 'partial');
  await store.putBytes('kept', 'k');
  t.equal(await store.clearTemp(), 1);
  await t.rejects(stat(path.join(root, '.tmp', 'abc.tmp')));
  t.equal((await store.getBytes('kept'))?.toString(), 'k');
});
