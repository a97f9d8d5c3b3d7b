/**
 * The private folder a vcs route's go and git run with: a git config of its
 * own (the operator's global config included, credential helpers reset to
 * ours, transports limited to https and ssh), and the credential in a file
 * of mode 0600 inside a folder of mode 0700. Secrets live only in those
 * files: never in an argument, never in an environment value.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModgateError } from '../errors.js';
import type { GitCredentials, GitSourceConfig } from '../config/types.js';
import { defaultHost } from '../config/routes.js';

export interface GitHome {
  /** The private folder (0700); removed by dispose(). */
  dir: string;
  /** Environment entries for go and git (no secret among them). */
  env: Record<string, string>;
  /** The secret values, so that error texts can be scrubbed of them. */
  secrets: string[];
  dispose(): Promise<void>;
}

/** Writes a route's private git home. `at` names the route's config path in errors. */
export async function createGitHome(opts: {
  pattern: string;
  git: GitSourceConfig;
  at: string;
  env?: NodeJS.ProcessEnv;
}): Promise<GitHome> {
  const env = opts.env ?? process.env;
  const creds = opts.git.credentials;
  const secrets = creds ? resolveSecrets(creds, env, `${opts.at}.git.credentials`) : {};
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-vcs-'));
  await chmod(dir, 0o700);
  try {
    const home = path.join(dir, 'home');
    await mkdir(home, { mode: 0o700 });
    const gitconfig = path.join(dir, 'gitconfig');
    const lines = [
      ...includeOperatorConfig(env),
      '[credential]',
      '\thelper =',
      ...urlRewrites(opts.git),
    ];
    lines.push('[protocol]', '\tallow = never', '[protocol "https"]', '\tallow = always');
    lines.push('[protocol "ssh"]', '\tallow = always');
    const out: Record<string, string> = { HOME: home, GIT_CONFIG_GLOBAL: gitconfig };
    const host =
      creds && creds.type !== 'ssh-key' ? (creds.host ?? defaultHost(opts.pattern)) : undefined;
    if (creds?.type === 'token') {
      // A read-only answer to "get" alone: git's store and erase requests change nothing,
      // and the helper is scoped to the one host.
      const file = path.join(dir, 'git-credentials');
      await writePrivate(
        file,
        `username=${creds.username ?? 'x-access-token'}\npassword=${secrets.secret}\n`,
      );
      await chmod(file, 0o400);
      lines.push(`[credential ${quote(`https://${host}`)}]`);
      lines.push(`\thelper = ${quote(`!f() { test "$1" = get && cat '${file}'; }; f`)}`);
    } else if (creds?.type === 'netrc') {
      const machine = (host ?? '').replace(/:\d+$/, '');
      await writePrivate(
        path.join(home, '.netrc'),
        `machine ${machine}\nlogin ${creds.username}\npassword ${secrets.secret}\n`,
      );
      out.NETRC = path.join(home, '.netrc');
    } else if (creds?.type === 'ssh-key') {
      out.GIT_SSH_COMMAND = await sshCommand(dir, creds, opts.at);
    }
    await writePrivate(gitconfig, `${lines.join('\n')}\n`);
    return {
      dir,
      env: out,
      secrets: secrets.secret ? [secrets.secret] : [],
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function resolveSecrets(
  c: GitCredentials,
  env: NodeJS.ProcessEnv,
  at: string,
): { secret?: string } {
  const [plain, name] =
    c.type === 'token'
      ? [c.token, c.tokenEnv]
      : c.type === 'netrc'
        ? [c.password, c.passwordEnv]
        : [];
  if (c.type === 'ssh-key') return {};
  const field = c.type === 'token' ? 'tokenEnv' : 'passwordEnv';
  const secret = plain ?? (name ? env[name] : undefined);
  if (!secret)
    throw new ModgateError(
      'CONFIG_INVALID',
      `${at}.${field}: the environment variable ${name} is not set`,
    );
  if (/[\s\p{Cc}]/u.test(secret))
    throw new ModgateError(
      'CONFIG_INVALID',
      `${at}.${field}: the secret in ${name} holds spaces or controls`,
    );
  return { secret };
}

/** The operator's own global git config (proxies, CAs, rewrites) still applies. */
function includeOperatorConfig(env: NodeJS.ProcessEnv): string[] {
  const own = env.GIT_CONFIG_GLOBAL ?? (env.HOME ? path.join(env.HOME, '.gitconfig') : undefined);
  return own && existsSync(own) ? ['[include]', `\tpath = ${quote(own)}`] : [];
}

function urlRewrites(git: GitSourceConfig): string[] {
  return Object.entries(git.insteadOf).flatMap(([base, prefix]) => [
    `[url ${quote(base)}]`,
    `\tinsteadOf = ${quote(prefix)}`,
  ]);
}

async function sshCommand(dir: string, c: GitCredentials, at: string): Promise<string> {
  const ssh = path.join(dir, 'ssh');
  await mkdir(ssh, { mode: 0o700 });
  const key = path.join(ssh, 'key');
  const known = path.join(ssh, 'known_hosts');
  for (const [from, to, field] of [
    [c.keyFile!, key, 'keyFile'],
    [c.knownHostsFile!, known, 'knownHostsFile'],
  ] as const) {
    try {
      await copyFile(from, to);
      await chmod(to, 0o600);
    } catch (err) {
      throw new ModgateError(
        'CONFIG_INVALID',
        `${at}.git.credentials.${field}: cannot read ${from}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  // Paths only: ssh reads the key itself. The -F keeps the operator's ssh config out.
  return [
    'ssh',
    '-F /dev/null',
    `-i ${key}`,
    '-o IdentitiesOnly=yes',
    `-o UserKnownHostsFile=${known}`,
    '-o StrictHostKeyChecking=yes',
    '-o BatchMode=yes',
  ].join(' ');
}

async function writePrivate(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600, flag: 'wx' });
}

/** A git config value in double quotes, with its escapes. */
function quote(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
