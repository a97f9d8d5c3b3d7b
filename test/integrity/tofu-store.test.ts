import t from 'tap';
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StateTofuLedger } from '../../src/integrity/tofu-store.js';
import { ChecksumVerifier } from '../../src/integrity/checksums.js';
import { LocalState } from '../../src/state/local.js';
import { StateSealer } from '../../src/storage/sealed.js';
import { testdir } from '../helpers/testdir.js';

async function setup(t: Test) {
  const root = testdir(t);
  const store = new LocalState({ dir: root, replicaId: 'r1', tofuDir: path.join(root, 'tofu') });
  const sealer = StateSealer.fromKey(randomBytes(32));
  const ledger = new StateTofuLedger(store, sealer);
  const entries = async () =>
    (await readdir(path.join(root, 'tofu'))).map((f) => path.join(root, 'tofu', f));
  return { store, sealer, ledger, entries };
}

t.test('the first hash is remembered and kept', async (t) => {
  const { ledger } = await setup(t);
  t.equal(await ledger.get('m@v1'), null);
  const a = await ledger.remember('m@v1', 'h1:a');
  const b = await ledger.remember('m@v1', 'h1:b');
  t.equal(a.h1, 'h1:a');
  t.same(b, a, 'a later hash does not replace the first');
  t.same(await ledger.get('m@v1'), a);
});

t.test('concurrent first sightings agree on one entry', async (t) => {
  const { ledger } = await setup(t);
  const got = await Promise.all(['h1:a', 'h1:b', 'h1:c'].map((h) => ledger.remember('m@v1', h)));
  t.equal(new Set(got.map((g) => g.h1)).size, 1);
});

t.test('an edited entry is refused with TOFU_TAMPERED, never re-trusted', async (t) => {
  const { ledger, entries } = await setup(t);
  await ledger.remember('m@v1', 'h1:genuine');
  const [file] = await entries();
  const env = JSON.parse(await readFile(file!, 'utf8')) as { body: string };
  const body = JSON.parse(env.body) as { h1: string };
  body.h1 = 'h1:evil';
  await writeFile(file!, JSON.stringify({ ...env, body: JSON.stringify(body) }));
  await t.rejects(ledger.get('m@v1'), { code: 'TOFU_TAMPERED', message: /^SECURITY ERROR/ });
  await t.rejects(ledger.remember('m@v1', 'h1:evil'), { code: 'TOFU_TAMPERED' });
  // Unsealed (as an older ledger or a hand-written entry would be): refused too.
  await writeFile(file!, JSON.stringify({ key: 'm@v1', h1: 'h1:evil', firstSeen: 'x' }));
  await t.rejects(ledger.get('m@v1'), { code: 'TOFU_TAMPERED' });
});

t.test("an entry copied over another module's entry is refused", async (t) => {
  const { ledger, entries } = await setup(t);
  await ledger.remember('a@v1', 'h1:a');
  const [fa] = await entries();
  await ledger.remember('b@v1', 'h1:b');
  const fb = (await entries()).find((f) => f !== fa)!;
  await writeFile(fb, await readFile(fa!));
  await t.rejects(ledger.get('b@v1'), { code: 'TOFU_TAMPERED' });
  t.equal((await ledger.get('a@v1'))?.h1, 'h1:a');
});

t.test('the checksum verifier uses the ledger for private modules', async (t) => {
  const { ledger } = await setup(t);
  const v = new ChecksumVerifier({ sumdb: null, tofu: ledger, isPrivate: () => true });
  const ev = await v.check('corp.example/x', 'v1.0.0', 'zip', 'h1:one');
  t.equal(ev.method, 'tofu');
  t.equal(ev.h1, 'h1:one');
  t.ok(ev.firstSeen);
  await t.rejects(v.check('corp.example/x', 'v1.0.0', 'zip', 'h1:two'), {
    code: 'CHECKSUM_MISMATCH',
    message: /^SECURITY ERROR: checksum mismatch for corp\.example\/x@v1\.0\.0\n/,
  });
  // The go.mod hash is a separate entry.
  t.equal((await v.check('corp.example/x', 'v1.0.0', 'mod', 'h1:mod')).h1, 'h1:mod');
});
