/** The go command and the Go programs under bench/peers/, as the real-world scenario uses them. */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { root } from '../lib.js';
import type { ModuleVersion } from './project.js';
import { SUMDB_NAME } from './project.js';

const run = promisify(execFile);

/**
 * The environment of a go command that sees nothing of this machine's Go
 * setup: its own GOPATH (so no remembered checksum-database tree) and module
 * cache, GOPROXY = the proxy under test, and the checksum database checked by
 * the go command itself through that proxy's /sumdb/.
 */
export function isolatedGoEnv(home: string, goproxy: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    GOENV: 'off',
    GOTOOLCHAIN: 'local',
    GOPATH: path.join(home, 'gopath'),
    GOMODCACHE: path.join(home, 'gopath', 'pkg', 'mod'),
    GOCACHE: path.join(home, 'gocache'),
    GOFLAGS: '-modcacherw',
    GOPROXY: goproxy,
    GOSUMDB: SUMDB_NAME,
    GONOSUMDB: '',
    GONOPROXY: '',
    GOPRIVATE: '',
    GOINSECURE: '',
  };
}

/** `go mod download` of every module version, in a fresh module cache; wall seconds. */
export async function timedDownload(
  goproxy: string,
  set: ModuleVersion[],
  tmp: string,
): Promise<number> {
  const home = await mkdtemp(path.join(tmp, 'go-'));
  try {
    const args = ['mod', 'download', ...set.map((m) => `${m.path}@${m.version}`)];
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const p = spawn('go', args, {
        cwd: home,
        env: isolatedGoEnv(home, goproxy),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
      p.on('error', reject);
      p.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`go mod download via ${goproxy}: ${err.trim()}`)),
      );
    });
    return (performance.now() - t0) / 1000;
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/**
 * Builds bench/peers/<name> into the cache folder (never into git) with the
 * machine's own Go setup; the go build cache makes a rebuild cheap and, once
 * the peer's modules are in the module cache, offline.
 */
export async function buildPeer(name: string, binDir: string): Promise<string> {
  await mkdir(binDir, { recursive: true });
  const out = path.join(binDir, name);
  await run('go', ['build', '-trimpath', '-o', out, '.'], {
    cwd: path.join(root, 'bench', 'peers', name),
    env: { ...process.env, GOFLAGS: '-modcacherw', GOTOOLCHAIN: 'local' },
  });
  await stat(out);
  return out;
}

export interface GoCheck {
  zips: number;
  bytes: number;
  cpuSeconds: number;
  wallSeconds: number;
}

/** Go's dirhash.HashZip + zip.CheckZip over the same zip files (bench/peers/gocheck). */
export async function goCheck(
  bin: string,
  zips: { mod: ModuleVersion; file: string }[],
): Promise<GoCheck> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as GoCheck)
        : reject(new Error(`gocheck: ${err.trim()}`)),
    );
    p.stdin.end(zips.map((z) => `${z.mod.path} ${z.mod.version} ${z.file}\n`).join(''));
  });
}
