/** Builds the module sources of a config's vcs routes (used by the composition root). */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ModgateConfig } from '../config/types.js';
import { ModgateError } from '../errors.js';
import type { ModuleSource } from '../goproxy/source.js';
import { createGitHome } from './home.js';
import { runGo } from './run.js';
import { VcsSource } from './source.js';

export { VcsSource } from './source.js';

/** One started source per vcs route, keyed by the route's index. */
export async function createVcsSources(
  config: ModgateConfig,
  /** `scratch`: a worker process's own runs folder name (server.workers). */
  opts: { env?: NodeJS.ProcessEnv; scratch?: string } = {},
): Promise<Map<number, ModuleSource>> {
  const out = new Map<number, ModuleSource>();
  try {
    for (const [i, r] of config.routes.entries()) {
      if (r.source !== 'vcs' || !r.git) continue;
      const at = `routes.${i}`;
      await checkGo(r.git.goBinary, at, opts.env);
      const home = await createGitHome({
        pattern: r.pattern,
        git: r.git,
        at,
        ...(opts.env ? { env: opts.env } : {}),
      });
      const id = createHash('sha256').update(r.pattern).digest('hex').slice(0, 16);
      const source = new VcsSource({
        pattern: r.pattern,
        git: r.git,
        dir: path.join(config.dataDir, 'vcs', id),
        home,
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.scratch ? { runsName: opts.scratch } : {}),
      });
      out.set(i, source);
      await source.init();
    }
  } catch (err) {
    await Promise.all([...out.values()].map((s) => s.close()));
    throw err;
  }
  return out;
}

async function checkGo(bin: string, at: string, env?: NodeJS.ProcessEnv): Promise<void> {
  const fail = (why: string): ModgateError =>
    new ModgateError('CONFIG_INVALID', `${at}.git.goBinary: cannot run ${bin}: ${why}`);
  const res = await runGo({
    bin,
    args: ['env', 'GOVERSION'],
    env: { PATH: (env ?? process.env).PATH ?? '/usr/bin:/bin', GOENV: 'off', GOTOOLCHAIN: 'local' },
    cwd: '/',
    route: at,
    timeoutMs: 30_000,
    signal: new AbortController().signal,
    maxOutputBytes: 1 << 16,
  }).catch((err: unknown) => {
    throw fail((err as Error).message);
  });
  if (res.code !== 0) throw fail(res.stderr.trim().slice(0, 200) || `exit status ${res.code}`);
}
