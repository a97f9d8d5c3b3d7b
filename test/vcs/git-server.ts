/**
 * Real git for the vcs tests: bare repositories made with the git command,
 * served over smart HTTP by `git http-backend` (CGI) behind an HTTPS server
 * on 127.0.0.1:0 with Basic auth, and a git config that sends
 * https://github.com/acme/ to it (url.<base>.insteadOf) and trusts its CA.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  findHttpBackend,
  startLocalGitServer,
  type LocalGitServer,
} from '../../src/demo/git-server.js';
import { makeChain } from '../helpers/tls-fixtures.js';

const exec = promisify(execFile);

export const USER = 'ci-bot';
export const TOKEN = 'glpat-s3cr3t-vcs-token-0123456789';

export interface GitServer extends LocalGitServer {
  root: string;
  caFile: string;
  /** A GIT_CONFIG_GLOBAL file: github.com/acme/ -> this server, its CA trusted. */
  gitconfig: string;
}

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const env = {
    ...process.env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
  };
  const { stdout } = await exec('git', args, { cwd, env });
  return stdout.trim();
}

/** A work tree whose pushes go to ROOT/acme/NAME.git (a bare repository). */
export class Repo {
  private n = 0;
  private constructor(
    readonly work: string,
    readonly bare: string,
  ) {}

  static async create(root: string, name: string): Promise<Repo> {
    const bare = path.join(root, 'acme', `${name}.git`);
    const work = path.join(root, 'work', name);
    await mkdir(bare, { recursive: true });
    await mkdir(work, { recursive: true });
    await git(bare, 'init', '-q', '--bare');
    await git(work, 'init', '-q', '-b', 'main');
    await git(work, 'remote', 'add', 'origin', bare);
    return new Repo(work, bare);
  }

  /** Writes files and commits them, with distinct, increasing commit times. */
  async commit(files: Record<string, string>, message = 'change'): Promise<string> {
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(this.work, name)), { recursive: true });
      await writeFile(path.join(this.work, name), text);
    }
    await git(this.work, 'add', '-A');
    const when = `2026-01-0${Math.min(9, ++this.n)}T10:00:00Z`;
    await exec('git', ['commit', '-q', '-m', message], {
      cwd: this.work,
      env: {
        ...process.env,
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_AUTHOR_NAME: 'Test',
        GIT_AUTHOR_EMAIL: 'test@example.com',
        GIT_COMMITTER_NAME: 'Test',
        GIT_COMMITTER_EMAIL: 'test@example.com',
        GIT_AUTHOR_DATE: when,
        GIT_COMMITTER_DATE: when,
      },
    });
    return git(this.work, 'rev-parse', 'HEAD');
  }

  /** Tags HEAD (moving the tag when it exists) and pushes branch and tags. */
  async tag(name: string): Promise<void> {
    await git(this.work, 'tag', '-f', name);
    await this.push();
  }

  async push(): Promise<void> {
    await git(this.work, 'push', '-q', '-f', 'origin', 'main', '--tags');
  }
}

/** Starts the HTTPS front of git http-backend for the repositories under root/acme. */
export async function startGitServer(
  root: string,
  auth: { user: string; password: string } = { user: USER, password: TOKEN },
): Promise<GitServer> {
  const chain = makeChain('Git Test Root');
  const caFile = path.join(root, 'git-ca.pem');
  await mkdir(root, { recursive: true });
  await writeFile(caFile, chain.root.certPem);
  const backend = await findHttpBackend();
  if (!backend) throw new Error('git is not installed');
  const local = await startLocalGitServer({
    root,
    tls: { cert: chain.leaf.certPem + chain.intermediate.certPem, key: chain.leaf.privateKeyPem },
    auth,
    backend,
  });
  const gitconfig = path.join(root, 'gitconfig');
  await writeFile(
    gitconfig,
    [
      `[url "${local.url}/acme/"]`,
      '\tinsteadOf = https://github.com/acme/',
      '[http]',
      `\tsslCAInfo = ${caFile}`,
      '',
    ].join('\n'),
  );
  return Object.assign(local, { root, caFile, gitconfig });
}
