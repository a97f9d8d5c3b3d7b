/**
 * The demo's private module: a local bare Git repository served by a local
 * git http-backend over HTTPS with a token, and the vcs route that reaches
 * it (its https://github.com/modgate-demo/ URLs rewritten to the local
 * server). Without git installed the demo runs without it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { findHttpBackend, git, startLocalGitServer, type LocalGitServer } from './git-server.js';

export const PRIVATE_MODULE = 'github.com/modgate-demo/secret';

export interface DemoGit {
  server: LocalGitServer;
  /** The raw vcs route for the demo's config. */
  route: Record<string, unknown>;
}

function goRuns(): Promise<boolean> {
  return new Promise((resolve) =>
    execFile('go', ['env', 'GOVERSION'], { timeout: 30_000 }, (err) => resolve(!err)),
  );
}

export async function startDemoGit(
  dir: string,
  tls: { cert: string; key: string; caFile: string },
): Promise<DemoGit | undefined> {
  const backend = await findHttpBackend();
  // The vcs route runs the go command: without git or go the demo goes on without it.
  if (!backend || !(await goRuns())) return undefined;
  const root = path.join(dir, 'git');
  const bare = path.join(root, 'modgate-demo', 'secret.git');
  const work = path.join(dir, 'git-work');
  await mkdir(bare, { recursive: true });
  await mkdir(work, { recursive: true });
  await git(bare, ['init', '-q', '--bare']);
  await git(work, ['init', '-q', '-b', 'main']);
  await writeFile(path.join(work, 'go.mod'), `module ${PRIVATE_MODULE}\n\ngo 1.21\n`);
  await writeFile(
    path.join(work, 'secret.go'),
    'package secret\n\n// Recipe is private code, served by modgate from Git.\nfunc Recipe() string { return "42" }\n',
  );
  await git(work, ['add', '-A']);
  await git(work, ['commit', '-q', '-m', 'the secret recipe']);
  await git(work, ['tag', 'v1.0.0']);
  await git(work, ['push', '-q', bare, 'main', '--tags']);
  const token = `demo-${randomBytes(12).toString('hex')}`;
  const server = await startLocalGitServer({
    root,
    tls,
    auth: { user: 'demo', password: token },
    backend,
  });
  return {
    server,
    route: {
      pattern: 'github.com/modgate-demo',
      source: 'vcs',
      git: {
        credentials: { type: 'token', host: new URL(server.url).host, username: 'demo', token },
        insteadOf: { [`${server.url}/modgate-demo/`]: 'https://github.com/modgate-demo/' },
        caFile: tls.caFile,
      },
    },
  };
}
