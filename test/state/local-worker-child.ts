/**
 * A child process for test/state/local-workers.test.ts: it hosts LocalState
 * handles whose leases and tree heads go to the parent's LocalCoordinator over
 * the IPC channel (as a worker's go to its primary), and runs the calls the
 * parent sends it.
 */
import { CoordinationClient } from '../../src/state/coordinator.js';
import { LocalState } from '../../src/state/local.js';

interface Tagged {
  scope?: string;
  from?: string;
  t?: string;
}

const states = new Map<string, LocalState>();

function clientFor(dir: string, replicaId: string): CoordinationClient {
  return new CoordinationClient({
    send: (m) => process.send!({ ...m, scope: dir, from: replicaId }),
    listen(onMessage) {
      const h = (m: unknown): void => {
        const x = m as Tagged;
        if (x.scope === dir && x.from === replicaId) onMessage(m);
      };
      process.on('message', h);
      return () => process.off('message', h);
    },
  });
}

process.on('message', (m: unknown) => {
  const msg = m as {
    t: string;
    id: number;
    handle: string;
    dir?: string;
    replicaId?: string;
    method?: string;
    args?: unknown[];
  };
  if (msg.t === 'new') {
    const replicaId = msg.replicaId!;
    const coordinator = clientFor(msg.dir!, replicaId);
    states.set(msg.handle, new LocalState({ dir: msg.dir!, replicaId, coordinator }));
    process.send!({ t: 'result', id: msg.id, ok: true, value: null });
  } else if (msg.t === 'call') {
    const s = states.get(msg.handle)!;
    const fn = (s as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
      msg.method!
    ]!;
    fn.apply(s, msg.args ?? []).then(
      (value) => process.send!({ t: 'result', id: msg.id, ok: true, value: value ?? null }),
      (err: { code?: string; message?: string }) =>
        process.send!({ t: 'result', id: msg.id, ok: false, code: err.code, message: err.message }),
    );
  } else if (msg.t === 'exit') process.exit(0);
});
process.send!({ t: 'up' });
