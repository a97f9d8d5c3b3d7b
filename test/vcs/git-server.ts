/**
 * Real git for the vcs tests: bare repositories made with the git command,
 * served over smart HTTP by `git http-backend` (CGI) behind an HTTPS server
 * on 127.0.0.1:0 with Basic auth, and a git config that sends
 * https://github.com/acme/ to it (url.<base>.insteadOf) and trusts its CA.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeChain, startHttpsServer, type TestHttpsServer } from '../helpers/tls-fixtures.js';

const exec = promisify(execFile);
const BACKEND = '/usr/lib/git-core/git-http-backend';

export const USER = 'ci-bot';
export const TOKEN = 'glpat-s3cr3t-vcs-token-0123456789';

export interface GitServer {
  url: string;
  root: string;
  caFile: string;
  /** A GIT_CONFIG_GLOBAL file: github.com/acme/ -> this server, its CA trusted. */
  gitconfig: string;
  /** Requests seen, by path (tests check what reached the server). */
  paths: string[];
  /** While set, requests for a path holding this string are held open and never answered. */
  hold?: string;
  held: number;
  server: TestHttpsServer;
  close(): Promise<void>;
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
  const want = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
  const state: GitServer = {
    url: '',
    root,
    caFile,
    gitconfig: path.join(root, 'gitconfig'),
    paths: [],
    held: 0,
    server: undefined as unknown as TestHttpsServer,
    close: async () => undefined,
  };
  const server = await startHttpsServer({
    certs: [chain.leaf.certPem, chain.intermediate.certPem],
    key: chain.leaf.privateKeyPem,
    handler: (req, res) => {
      const p = (req.url ?? '/').split('?')[0] ?? '/';
      state.paths.push(p);
      if (state.hold && p.includes(state.hold)) {
        state.held++;
        return; // never answered: the client's own deadline must end it
      }
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end('unauthorized\n');
        return;
      }
      cgi(root, req, res);
    },
  });
  state.server = server;
  state.url = server.url;
  state.close = () => server.close();
  await writeFile(
    state.gitconfig,
    [
      `[url "${server.url}/acme/"]`,
      '\tinsteadOf = https://github.com/acme/',
      '[http]',
      `\tsslCAInfo = ${caFile}`,
      '',
    ].join('\n'),
  );
  return state;
}

/** Runs git http-backend for one request (RFC 3875 CGI). */
function cgi(root: string, req: IncomingMessage, res: ServerResponse): void {
  const [pathInfo, query = ''] = (req.url ?? '/').split('?');
  const child = spawn(BACKEND, [], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(pathInfo ?? '/'),
      QUERY_STRING: query,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_USER: USER,
      REMOTE_ADDR: '127.0.0.1',
      ...(req.headers['content-encoding']
        ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) }
        : {}),
      ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let started = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (started) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    started = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    res.write(head.subarray(end + 4));
  });
  child.on('close', () => res.end());
  child.on('error', () => res.writeHead(500).end());
}
