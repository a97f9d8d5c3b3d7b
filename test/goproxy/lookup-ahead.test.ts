import t from 'tap';
import type { Test } from 'tap';
import { request } from 'undici';
import { makeModule, type FakeModule } from '../helpers/fake-upstream.js';
import { startHeldUpstream } from '../helpers/held-upstream.js';
import { startFakeSumdb } from '../helpers/fake-sumdb.js';
import { startTestGateway } from '../helpers/gateway.js';
import { hashGoMod } from '../../src/integrity/dirhash.js';
import { testdir } from '../helpers/testdir.js';

// Once the upstream answers a client's miss with the bytes, the version's
// checksum-database lookup starts beside the download, so the proof arrives
// while the bytes do rather than after them; a version the upstream does not
// have costs no lookup.

/** Resolves with the lookups seen once `pred` holds for one, or after `ms` (the failure bound). */
function lookups(db: { handle(p: string): Promise<unknown> }) {
  const seen: string[] = [];
  const waiters: Array<() => void> = [];
  const inner = db.handle.bind(db);
  db.handle = (p: string) => {
    if (p.startsWith('/lookup/')) {
      seen.push(p);
      waiters.splice(0).forEach((w) => w());
    }
    return inner(p);
  };
  return {
    seen,
    async until(p: string, ms: number): Promise<boolean> {
      const deadline = Date.now() + ms;
      while (!seen.includes(p)) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return true;
    },
  };
}

async function setup(t: Test, m: FakeModule, hold: RegExp, raw: Record<string, unknown> = {}) {
  const db = await startFakeSumdb({
    records: [{ path: m.path, version: m.version, h1: 'h1:unused=', modH1: hashGoMod(m.mod) }],
  });
  const seen = lookups(db);
  const up = await startHeldUpstream([m], hold, { bodyOnly: true });
  const gw = await startTestGateway(testdir(t), {
    upstream: up.url,
    sumdb: `${db.verifierKey} ${db.url}`,
    ...raw,
  });
  t.teardown(async () => {
    await gw.close();
    await up.close();
    await db.stop();
  });
  return { up, gw, seen };
}

t.test('a go.mod miss looks its version up while the go.mod downloads', async (t) => {
  const m = await makeModule('example.com/ahead', 'v1.0.0', { 'a.go': 'package a\n' });
  const { up, gw, seen } = await setup(t, m, /\.mod$/);
  const MOD = '/example.com/ahead/@v/v1.0.0.mod';
  const pending = request(gw.url + MOD);
  await up.held(1);
  t.ok(
    await seen.until('/lookup/example.com/ahead@v1.0.0', 20_000),
    "the lookup reached the checksum database before the go.mod's last byte arrived",
  );
  up.release(MOD);
  const res = await pending;
  t.equal(res.statusCode, 200);
  t.equal(await res.body.text(), m.mod, 'and the go.mod is verified and served');
  t.equal(seen.seen.length, 1, 'one lookup, shared by the check');
});

t.test('a version the upstream does not have is not looked up', async (t) => {
  const m = await makeModule('example.com/ahead', 'v1.0.0', { 'a.go': 'package a\n' });
  const { gw, seen } = await setup(t, m, /^$/);
  for (const kind of ['info', 'mod', 'zip']) {
    const res = await request(`${gw.url}/example.com/ahead/@v/v9.9.9.${kind}`);
    t.equal(res.statusCode, 404, kind);
    await res.body.dump();
  }
  const ok = await request(`${gw.url}/example.com/ahead/@v/v1.0.0.info`);
  t.equal(ok.statusCode, 200);
  await ok.body.dump();
  t.ok(await seen.until('/lookup/example.com/ahead@v1.0.0', 20_000), 'the one it has is');
  await gw.settled();
  t.same(seen.seen, ['/lookup/example.com/ahead@v1.0.0'], 'and only that one');
});

t.test('a module kept out of the checksum database is never looked up ahead', async (t) => {
  const m = await makeModule('corp.example/secret', 'v1.0.0', { 's.go': 'package s\n' });
  const { up, gw, seen } = await setup(t, m, /^$/, { noSumdb: 'corp.example' });
  for (const kind of ['info', 'mod', 'zip']) {
    const res = await request(`${gw.url}/corp.example/secret/@v/v1.0.0.${kind}`);
    t.equal(res.statusCode, 200, kind);
    await res.body.dump();
  }
  await gw.settled();
  t.equal(up.count('/corp.example/secret/@v/v1.0.0.zip'), 1);
  t.same(seen.seen, [], 'no lookup of a noSumdb module reached the checksum database');
});
