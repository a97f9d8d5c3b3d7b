import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile, mkdir } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Agent, request } from 'undici';
import { parseSignerKey, signNote } from '../../src/integrity/note.js';
import { formatTree } from '../../src/integrity/tlog.js';
import type { FakeSumdbCore } from '../helpers/fake-sumdb.js';
import { repoRoot } from '../helpers/testdata.js';
import { stopChild } from '../helpers/child.js';

/** Requests after a kill use a fresh pool, never a socket of a dead process. */
export const fresh = new Agent({ keepAliveTimeout: 10 });

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await request(url, { dispatcher: fresh, headersTimeout: 60_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

/** One replica: a `modgate serve` child process with its own config file and data folder. */
export interface ChildReplica {
  id: string;
  url: string;
  config: string;
  child: ChildProcess;
  stderr: string;
}

/** Writes the replica's config and starts it; resolves once /healthz answers (bounded). */
export async function spawnReplica(
  id: string,
  config: string,
  yaml: string,
  env: NodeJS.ProcessEnv,
): Promise<ChildReplica> {
  await writeFile(config, yaml);
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'bin', 'modgate.js'),
      'serve',
      '--config',
      config,
      '--listen',
      `127.0.0.1:${port}`,
    ],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env, MODGATE_CONFIG: '' },
    },
  );
  const r: ChildReplica = { id, url: `http://127.0.0.1:${port}`, config, child, stderr: '' };
  child.stderr!.on('data', (d: Buffer) => (r.stderr += d.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  for (let i = 0; i < 1200 && !exited; i++) {
    const up = await request(`${r.url}/healthz`, { dispatcher: fresh, headersTimeout: 2000 }).then(
      (res) => (res.body.dump(), true),
      () => false,
    );
    if (up) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`${id} did not start: ${r.stderr}`);
}

export function killHard(r: ChildReplica): Promise<void> {
  return stopChild(r.child, 'SIGKILL');
}

export function stopGracefully(r: ChildReplica): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    r.child.once('exit', () => resolve());
    r.child.kill('SIGTERM');
  });
}

/** Serves a checksum database; `forge()` makes /latest a validly signed head of another tree. */
export async function serveSumdb(core: FakeSumdbCore) {
  let forged: Buffer | null = null;
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    if (forged && p === '/latest') return void res.writeHead(200).end(forged);
    core.handle(p).then(
      ({ status, body }) => res.writeHead(status).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    forge() {
      forged = signNote(formatTree({ n: core.size(), hash: Buffer.alloc(32, 9) }), [
        parseSignerKey(core.signerKey),
      ]);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Waits, in a bounded loop, for a condition that an event elsewhere makes true. */
export async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function writeStateKey(dataDir: string, key: string): Promise<void> {
  await mkdir(path.join(dataDir, 'keys'), { recursive: true });
  await writeFile(path.join(dataDir, 'keys', 'state.key'), key, { mode: 0o600 });
}
