import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  CoordinationClient,
  LocalCoordinator,
  type Channel,
  type StateRequest,
} from '../../src/state/coordinator.js';
import { LocalState } from '../../src/state/local.js';

const dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-coord-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const coordinator = new LocalCoordinator(new LocalState({ dir, replicaId: 'primary' }));

/** A channel to the coordinator in this process, as `from`; `drop` loses requests. */
function channel(from: string, o: { drop?: boolean; throws?: boolean } = {}): Channel {
  let handler: ((m: unknown) => void) | undefined;
  return {
    send(m: StateRequest) {
      if (o.throws) throw new Error('channel closed');
      if (o.drop) return;
      void coordinator.handle(from, m).then((r) => handler?.(r));
    },
    listen(h) {
      handler = h;
      return () => (handler = undefined);
    },
  };
}

t.test('malformed requests are refused with a code, nothing is granted', async (t) => {
  const bad = await coordinator.handle('w1', { t: 'state', id: 1, op: 'acquire', args: [7, 'x'] });
  t.match(bad, { ok: false, code: 'STATE_UNAVAILABLE' });
  const badKey = await coordinator.handle('w1', {
    t: 'state',
    id: 2,
    op: 'acquire',
    args: ['../x', 1000],
  });
  t.match(badKey, { ok: false, code: 'STORAGE_BAD_KEY' });
  const badHead = await coordinator.handle('w1', {
    t: 'state',
    id: 3,
    op: 'advanceHead',
    args: ['../../etc', null, 'x'],
  });
  t.match(badHead, { ok: false, code: 'STORAGE_BAD_KEY' }, 'no path outside the folder');
  t.equal(coordinator.held, 0);
});

t.test('a worker renews and releases only with its token; the holder is the worker', async (t) => {
  const a = new CoordinationClient(channel('w1'));
  const b = new CoordinationClient(channel('w2'));
  const lease = await a.acquire('lease/k', 60_000);
  t.match(lease, { holder: 'w1' }, 'the primary names the holder, not the request');
  await b.release({ ...lease!, holder: 'w1', token: 'f'.repeat(32) });
  t.match(await b.holder('lease/k'), { holder: 'w1' }, 'a forged token frees nothing');
  t.ok(await a.renew(lease!, 60_000));
  await a.release(lease!);
  t.equal(await b.holder('lease/k'), null);
  t.equal(await a.advanceHead('sum.test', null, 'h1'), true);
  t.equal(
    await b.advanceHead('sum.test', null, 'h2'),
    false,
    'compare-and-set through the primary',
  );
});

t.test('no answer, or no channel, fails closed with STATE_UNAVAILABLE', async (t) => {
  const silent = new CoordinationClient(channel('w3', { drop: true }), 50);
  await t.rejects(silent.acquire('lease/q', 1000), {
    code: 'STATE_UNAVAILABLE',
    message: /did not answer/,
  });
  const broken = new CoordinationClient(channel('w3', { throws: true }));
  await t.rejects(broken.acquire('lease/q', 1000), { code: 'STATE_UNAVAILABLE' });
  const closing = new CoordinationClient(channel('w3', { drop: true }), 60_000);
  const waiting = closing.acquire('lease/q', 1000);
  closing.close('the primary process went away');
  await t.rejects(waiting, { code: 'STATE_UNAVAILABLE', message: /went away/ });
  await t.rejects(closing.holder('lease/q'), { code: 'STATE_UNAVAILABLE' });
  t.equal(coordinator.held, 0, 'nothing was granted');
});
