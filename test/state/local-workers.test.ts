import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { isStateRequest, LocalCoordinator } from '../../src/state/coordinator.js';
import { LocalState } from '../../src/state/local.js';
import type { SharedState } from '../../src/state/types.js';
import { stateContract } from './contract.js';

/*
 * The shared-state contract on the local engine across two real processes: the handles of each
 * replicas() call are spread over two child processes (as server.workers spreads requests over
 * workers); TOFU entries and fork evidence race on the files, leases and tree heads go to this
 * process's LocalCoordinator (the primary's part).
 */
const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'local-worker-child.ts');
const dirs: string[] = [];
const coordinators = new Map<string, LocalCoordinator>();
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
let nextId = 1;

function start(): Promise<ChildProcess> {
  const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('message', (m: unknown) => {
    const msg = m as {
      t: string;
      id: number;
      ok: boolean;
      value: unknown;
      code?: string;
      message?: string;
      scope?: string;
      from?: string;
    };
    if (isStateRequest(m)) {
      const c = coordinators.get(msg.scope!)!;
      void c
        .handle(msg.from!, m)
        .then((reply) => child.send({ ...reply, scope: msg.scope, from: msg.from }));
    } else if (msg.t === 'result') {
      const p = pending.get(msg.id)!;
      pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(Object.assign(new Error(msg.message), { code: msg.code }));
    }
  });
  return new Promise((resolve) => child.once('message', () => resolve(child)));
}

function call(child: ChildProcess, body: Record<string, unknown>): Promise<unknown> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    child.send({ ...body, id });
  });
}

const children = [await start(), await start()];
t.teardown(async () => {
  for (const c of children) c.send({ t: 'exit' });
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const METHODS = [
  'getHead',
  'advanceHead',
  'recordFork',
  'forkEvidence',
  'claimTofu',
  'getTofu',
  'acquire',
  'renew',
  'release',
  'holder',
  'check',
  'close',
] as const;

async function remote(child: ChildProcess, dir: string, replicaId: string): Promise<SharedState> {
  const handle = `${dir}#${replicaId}`;
  await call(child, { t: 'new', handle, dir, replicaId });
  const s: Record<string, unknown> = { engine: 'local', replicaId };
  for (const m of METHODS)
    s[m] = (...args: unknown[]) => call(child, { t: 'call', handle, method: m, args });
  return s as unknown as SharedState;
}

stateContract(t, {
  async replicas(n) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-workers-state-'));
    dirs.push(dir);
    coordinators.set(dir, new LocalCoordinator(new LocalState({ dir, replicaId: 'primary' })));
    return Promise.all(Array.from({ length: n }, (_, i) => remote(children[i % 2]!, dir, `w${i}`)));
  },
  async expire(ms) {
    // The coordinator's leases run on this process's clock: wait for the ttl to pass.
    const until = Date.now() + ms + 5;
    while (Date.now() < until) await new Promise((r) => setTimeout(r, until - Date.now() + 1));
  },
});

t.test('a dead worker loses its leases at once', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-workers-state-'));
  dirs.push(dir);
  const c = new LocalCoordinator(new LocalState({ dir, replicaId: 'primary' }));
  coordinators.set(dir, c);
  const [a, b] = [await remote(children[0]!, dir, 'w1'), await remote(children[1]!, dir, 'w2')];
  t.ok(await a.acquire('lease/x', 600_000), 'w1 holds it');
  t.equal(await b.acquire('lease/x', 600_000), null, 'w2 cannot take it');
  t.equal(c.gone('w1'), 1, "the primary frees w1's lease when w1 exits");
  t.match(await b.acquire('lease/x', 600_000), { holder: 'w2' }, 'w2 takes it at once');
});
