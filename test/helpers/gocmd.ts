import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface GoResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A fresh, isolated go environment rooted in dir (go keeps state in GOPATH). */
export async function goEnv(
  dir: string,
  extra: Record<string, string>,
): Promise<NodeJS.ProcessEnv> {
  const gopath = path.join(dir, 'gopath');
  await mkdir(gopath, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    GOPATH: gopath,
    GOMODCACHE: path.join(gopath, 'pkg', 'mod'),
    // The build cache is content-addressed and safe to share; a fresh one per
    // test rebuilds the standard library (a minute on a busy machine). Module
    // state (GOPATH, GOMODCACHE) stays per test.
    GOCACHE: process.env.MODGATE_TEST_GOCACHE ?? path.join(os.tmpdir(), 'modgate-test-gocache'),
    GOENV: 'off',
    GOTOOLCHAIN: 'local',
    GOFLAGS: '-modcacherw',
    GONOSUMDB: '',
    GONOPROXY: '',
    GOPRIVATE: '',
    GOINSECURE: '',
    GOVCS: '*:off',
    ...extra,
  };
  return env;
}

export function runGo(
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<GoResult> {
  return new Promise((resolve) => {
    execFile(
      'go',
      args,
      { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
