/**
 * A local Git server for `modgate demo` and the tests: `git http-backend`
 * (CGI, smart HTTP) behind HTTPS on 127.0.0.1:0 with Basic auth, serving the
 * bare repositories under a root folder. Loopback only.
 */
import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface LocalGitServer {
  url: string;
  /** Request paths seen, in order. */
  paths: string[];
  /** While set, requests for a path holding this string are held open and never answered. */
  hold?: string;
  /** Requests held so far. */
  held: number;
  close(): Promise<void>;
}

/** The git http-backend program of the installed git, or undefined without git. */
export async function findHttpBackend(): Promise<string | undefined> {
  try {
    const { stdout } = await exec('git', ['--exec-path'], { timeout: 10_000 });
    return path.join(stdout.trim(), 'git-http-backend');
  } catch {
    return undefined;
  }
}

export async function startLocalGitServer(opts: {
  root: string;
  tls: { cert: string; key: string };
  auth: { user: string; password: string };
  backend: string;
}): Promise<LocalGitServer> {
  const want = `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')}`;
  const state = { paths: [] as string[], held: 0, hold: undefined as string | undefined };
  const server: Server = createServer({ cert: opts.tls.cert, key: opts.tls.key }, (req, res) => {
    const p = (req.url ?? '/').split('?')[0] ?? '/';
    state.paths.push(p);
    if (state.hold && p.includes(state.hold)) {
      state.held++;
      return;
    }
    if (req.headers.authorization !== want) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end('unauthorized\n');
      return;
    }
    cgi(opts.backend, opts.root, opts.auth.user, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** Runs git http-backend for one request (RFC 3875 CGI). */
function cgi(
  backend: string,
  root: string,
  user: string,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const [pathInfo, query = ''] = (req.url ?? '/').split('?');
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathInfo ?? '/');
  } catch {
    res.writeHead(400).end();
    return;
  }
  const child = spawn(backend, [], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decoded,
      QUERY_STRING: query,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_USER: user,
      REMOTE_ADDR: '127.0.0.1',
      ...(req.headers['content-encoding']
        ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) }
        : {}),
      ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  req.pipe(child.stdin);
  child.stdin.on('error', () => undefined);
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
  child.on('error', () => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
}

/** Runs git with an argument array, with a fixed identity and none of the user's config. */
export async function git(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await exec('git', args, {
    cwd,
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: cwd,
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'modgate demo',
      GIT_AUTHOR_EMAIL: 'demo@modgate.invalid',
      GIT_COMMITTER_NAME: 'modgate demo',
      GIT_COMMITTER_EMAIL: 'demo@modgate.invalid',
      ...env,
    },
  });
  return stdout.trim();
}
