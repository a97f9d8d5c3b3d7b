import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateConfig } from '../../src/config/load.js';
import type { GitSourceConfig } from '../../src/config/types.js';
import { createGitHome } from '../../src/vcs/home.js';
import { VcsSource } from '../../src/vcs/source.js';
import type { ProxyRequest } from '../../src/goproxy/paths.js';
import type { GitServer } from './git-server.js';
import { TOKEN, USER } from './git-server.js';

/** The effective git section of a vcs route for the given raw git settings. */
export function gitConfig(raw: Record<string, unknown>): GitSourceConfig {
  const c = validateConfig({
    routes: [{ pattern: 'github.com/acme', source: 'vcs', git: raw }],
  });
  return c.routes[0]!.git!;
}

export function tokenCredentials(server: GitServer, token = TOKEN): Record<string, unknown> {
  return { type: 'token', host: new URL(server.url).host, username: USER, token };
}

/** The environment modgate runs in: the test's git config, PATH with go. */
export function hostEnv(server: GitServer): NodeJS.ProcessEnv {
  return {
    PATH: `${process.env.PATH}:/usr/local/go/bin`,
    HOME: path.join(server.root, 'operator-home'),
    GIT_CONFIG_GLOBAL: server.gitconfig,
  };
}

export async function makeSource(
  server: GitServer,
  git: Record<string, unknown>,
  opts: { onSpawn?: (pgid: number) => void; dir?: string } = {},
): Promise<VcsSource> {
  const env = hostEnv(server);
  const cfg = gitConfig(git);
  const home = await createGitHome({ pattern: 'github.com/acme', git: cfg, at: 'routes.0', env });
  const src = new VcsSource({
    pattern: 'github.com/acme',
    git: cfg,
    dir: opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'modgate-vcs-route-'))),
    home,
    env,
    ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
  });
  await src.init();
  return src;
}

/** GETs a request from a source: its status and body text. */
export async function fetchText(
  src: VcsSource,
  req: ProxyRequest,
  signal = AbortSignal.timeout(120_000),
): Promise<{ status: number; text: string; upstream: string }> {
  const res = await src.get(req, signal);
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return {
    status: res.status,
    text: Buffer.concat(chunks).toString('utf8'),
    upstream: res.upstream,
  };
}
