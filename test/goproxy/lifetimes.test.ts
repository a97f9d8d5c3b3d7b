import t from 'tap';
import type { Test } from 'tap';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import type { FetchCap } from '../../src/goproxy/fetch-cap.js';
import { makeModule } from '../helpers/fake-upstream.js';
import { startHeldUpstream } from '../helpers/held-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { testdir } from '../helpers/testdir.js';

const MOD = '/example.com/held/@v/v1.0.0.mod';

function until(cap: FetchCap, cond: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (cond()) return resolve();
    const check = () => {
      if (!cond()) return;
      cap.off('change', check);
      resolve();
    };
    cap.on('change', check);
  });
}

async function setup(t: Test) {
  const m = await makeModule('example.com/held', 'v1.0.0');
  const up = await startHeldUpstream([m], /\.mod$/);
  const dir = testdir(t);
  const audit = recordingAudit();
  const gw = await startTestGateway(dir, { upstream: up.url }, { audit });
  let closed = false;
  t.teardown(async () => {
    if (!closed) await gw.close();
    await up.close();
  });
  const cachedMods = async () =>
    (
      await readdir(path.join(dir, 'store', 'cache', 'example.com', 'held', '@v')).catch(
        () => [] as string[],
      )
    ).filter((f) => f.endsWith('.mod'));
  return { m, up, gw, audit, cachedMods, markClosed: () => (closed = true) };
}

t.test('a client that leaves cancels the download nobody else waits for', async (t) => {
  const { up, gw, audit, cachedMods } = await setup(t);
  const leaver = new AbortController();
  const req = request(gw.url + MOD, { signal: leaver.signal });
  req.catch(() => undefined);
  await up.held(1);
  t.equal(gw.coldFetches.running, 1);
  leaver.abort();
  await until(gw.coldFetches, () => gw.coldFetches.running === 0);
  t.same(await cachedMods(), [], 'nothing cached');
  // The abandoned answer arriving later changes nothing.
  up.release(MOD);
  // Any work still going on would write now: it is awaited before looking.
  await gw.settled();
  t.same(await cachedMods(), []);
  t.ok(
    audit.decisions.some((d) => d.module === 'example.com/held' && d.codes.includes('CLIENT_GONE')),
    'the cancelled request is recorded',
  );
});

t.test('close() aborts and awaits downloads: nothing is written after it', async (t) => {
  const { up, gw, cachedMods, markClosed } = await setup(t);
  const pending = request(gw.url + MOD);
  await up.held(1);
  markClosed();
  await gw.close();
  t.equal(gw.coldFetches.running, 0, 'the download ended with close');
  const res = await pending.catch((err: Error) => err);
  if (!(res instanceof Error)) {
    t.equal(res.statusCode, 503, 'the waiting request was told the gateway is closing');
    t.match(await res.body.text(), /SHUTTING_DOWN/);
  } else t.pass('the connection ended with the gateway');
  up.release(MOD);
  t.same(await cachedMods(), [], 'nothing stored after close');
});
