/**
 * Athens (gomods/athens), built from the source folder in ATHENS_SRC (it is
 * not on the module proxy), with disk storage over the same files. Athens's
 * defaults are kept (protocol workers, metrics) except the log level.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../lib.js';
import { cacheDir } from '../realworld/project.js';
import { spawnServer, waitReady, why, type Launched } from './common.js';

export interface AthensOptions {
  /** Athens's disk storage root (ROOT/<module>/<version>/...). */
  root: string;
  /** Where a miss would be fetched from (a hit never reaches it). */
  upstream: string;
  probe: string;
}

function build(src: string, out: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(
      'go',
      ['build', '-trimpath', '-o', out, './cmd/proxy'],
      {
        cwd: src,
        env: { ...process.env, GOFLAGS: '-modcacherw', GOTOOLCHAIN: 'local' },
        timeout: 1_200_000,
        maxBuffer: 16 << 20,
      },
      (err, _out, stderr) => (err ? reject(new Error(stderr.trim() || err.message)) : resolve()),
    ),
  );
}

export async function startAthens(o: AthensOptions): Promise<Launched> {
  const src = process.env.ATHENS_SRC;
  if (!src) return { missing: 'not built (set ATHENS_SRC to its source folder)' };
  const bin = path.join(cacheDir(), 'bin', 'athens');
  try {
    await mkdir(path.dirname(bin), { recursive: true });
    await build(path.resolve(src), bin);
  } catch (err) {
    return { missing: `build failed: ${why(err)}` };
  }
  const port = await freePort();
  // An empty working folder, so that no athens.toml of the source tree is picked up.
  const cwd = await mkdtemp(path.join(path.dirname(o.root), 'athens-cwd-'));
  const s = spawnServer(bin, [], {
    cwd,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ATHENS_PORT: `127.0.0.1:${port}`,
      ATHENS_STORAGE_TYPE: 'disk',
      ATHENS_DISK_STORAGE_ROOT: o.root,
      ATHENS_LOG_LEVEL: 'error',
      ATHENS_GO_BINARY_ENV_VARS: `GOPROXY=${o.upstream}; GOSUMDB=off`,
    },
  });
  const http = `http://127.0.0.1:${port}`;
  try {
    await waitReady(`${http}/${o.probe}`, s.proc, s.errTail);
  } catch (err) {
    await s.stop();
    return { missing: `did not start: ${why(err)}` };
  }
  return {
    http: { url: http, pid: s.proc.pid! },
    about: `built from ${src}, disk storage, defaults (30 protocol workers, prometheus metrics) but log level error`,
    stop: () => s.stop(),
  };
}
