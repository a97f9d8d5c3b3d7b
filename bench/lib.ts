import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { Agent, request } from 'undici';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processTree } from './hits/proctree.js';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Child {
  url: string;
  proc: ChildProcess;
  /** Peak resident set (VmHWM) of the child, in bytes. */
  peakRss(): number;
  rss(): number;
  stop(): Promise<void>;
}

function procStatus(pid: number, field: string): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0; // exited between the listing and the read
  }
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** A /proc status figure (kB) summed over `root` and its descendants, in bytes. */
function treeStatus(root: number, field: string): number {
  return processTree(root).reduce((n, pid) => n + procStatus(pid, field), 0);
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Starts `modgate serve` as a child process on a free port and waits until /healthz answers. */
export async function spawnGateway(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  /** The modgate checkout to run (its bin/modgate.js, built); this one by default. */
  checkout: string = root,
): Promise<Child> {
  const port = await freePort();
  // BENCH_CPU_PROF=DIR profiles every gateway (node --cpu-prof) into DIR.
  const dir = process.env.BENCH_CPU_PROF;
  const prof = dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
  const proc = spawn(
    process.execPath,
    [
      ...prof,
      path.join(checkout, 'bin', 'modgate.js'),
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      ...args,
    ],
    {
      env: { ...process.env, MODGATE_LOG__LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let errText = '';
  proc.stderr!.on('data', (d: Buffer) => (errText = (errText + d.toString()).slice(-4000)));
  const tlsOn = !args.includes('--insecure-http');
  const url = `${tlsOn ? 'https' : 'http'}://127.0.0.1:${port}`;
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`gateway exited ${proc.exitCode}: ${errText}`);
    const ok = await request(`${url}/healthz`, { dispatcher }).then(
      (r) => (r.body.dump(), r.statusCode === 200),
      () => false,
    );
    if (ok) break;
    if (i > 1200) throw new Error(`gateway did not start: ${errText}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await dispatcher.close();
  return {
    url,
    proc,
    // Summed over the process tree: with server.workers, the primary's own figures leave the
    // workers out.
    peakRss: () => treeStatus(proc.pid!, 'VmHWM'),
    rss: () => treeStatus(proc.pid!, 'VmRSS'),
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

/** Throttles a stream to bytesPerSecond. */
export function throttle(bytesPerSecond: number): Transform {
  const started = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      sent += chunk.length;
      const due = started + (sent / bytesPerSecond) * 1000;
      setTimeout(() => cb(null, chunk), Math.max(0, due - Date.now()));
    },
  });
}

/** A GOPROXY serving a folder tree from disk (streamed), optionally throttled. */
export async function startFileUpstream(
  dir: string,
  bytesPerSecond = 0,
): Promise<{ url: string; hits: Map<string, number>; close(): Promise<void> }> {
  const hits = new Map<string, number>();
  const server = http.createServer(async (req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    hits.set(p, (hits.get(p) ?? 0) + 1);
    const file = path.join(dir, path.normalize(p));
    const st = await stat(file).catch(() => null);
    if (!st?.isFile() || !file.startsWith(dir)) {
      res.writeHead(404).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-length': st.size });
    const src: Readable = createReadStream(file, { highWaterMark: 1 << 20 });
    await (
      bytesPerSecond ? pipeline(src, throttle(bytesPerSecond), res) : pipeline(src, res)
    ).catch(() => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function fmtBytes(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
