/**
 * A real S3 server for tests: versitygw (Apache-2.0) over a temp folder, on
 * a free loopback port. scripts/install-versitygw.sh installs the pinned
 * version; a missing binary fails the test (CI installs it), never skips it.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface Versitygw {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** A client for direct inspection (list, head, multipart uploads). */
  client: S3Client;
  /** Stops the server (SIGTERM, then SIGKILL); the folder is kept for `start()`. */
  stop(): Promise<void>;
  /** Starts it again on the same port over the same folder. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
}

/** The versitygw binary: VERSITYGW, PATH, GOBIN, GOPATH/bin or ~/go/bin. */
export function versitygwBinary(): string {
  const candidates = [process.env.VERSITYGW ?? ''];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter))
    if (dir) candidates.push(path.join(dir, 'versitygw'));
  for (const v of ['GOBIN', 'GOPATH']) {
    try {
      const out = execFileSync('go', ['env', v], { encoding: 'utf8' }).trim();
      if (out) candidates.push(path.join(out, v === 'GOPATH' ? 'bin' : '', 'versitygw'));
    } catch {
      // no go on PATH: the other places still count
    }
  }
  candidates.push(path.join(homedir(), 'go', 'bin', 'versitygw'), '/root/go/bin/versitygw');
  const found = candidates.find((c) => c && existsSync(c));
  if (!found)
    throw new Error('versitygw is not installed: run scripts/install-versitygw.sh (CI does)');
  return found;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts versitygw and creates one bucket; call close() at teardown. */
export async function startVersitygw(opts: { bucket?: string } = {}): Promise<Versitygw> {
  const bin = versitygwBinary();
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-vgw-'));
  const root = path.join(dir, 'posix');
  await mkdir(root);
  const credentials = {
    accessKeyId: `test${randomBytes(6).toString('hex')}`,
    secretAccessKey: randomBytes(18).toString('hex'),
  };
  const region = 'us-east-1';
  const bucket = opts.bucket ?? 'modgate-test';
  let port = 0;
  let child: ChildProcess | null = null;
  let log = '';

  const launch = async (): Promise<void> => {
    const args = [
      '--access',
      credentials.accessKeyId,
      '--secret',
      credentials.secretAccessKey,
      '--port',
      `127.0.0.1:${port}`,
      '--quiet',
      'posix',
      root,
    ];
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let exited = false;
    proc.once('exit', () => (exited = true));
    proc.stdout.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
    proc.stderr.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
    // Readiness: the port accepts connections. Bounded: 600 tries, ~60 s on a busy machine.
    for (let i = 0; i < 600; i++) {
      if (exited) throw new Error(`versitygw exited at start: ${log}`);
      if (await canConnect(port)) return;
      await pause(100);
    }
    proc.kill('SIGKILL');
    throw new Error(`versitygw did not listen on 127.0.0.1:${port}: ${log}`);
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };

  // A port picked free can be taken before versitygw binds it: try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      await stop();
      if (attempt >= 2) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    region,
    credentials,
    client,
    stop,
    start: launch,
    close: async () => {
      client.destroy();
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
