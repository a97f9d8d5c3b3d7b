/**
 * The checks on routes that a JSON schema states badly: which fields go with
 * which source, and which credential fields go with which type. Each problem
 * is one line with its path, reported with the schema's violations.
 */
import type { GitCredentials, RouteConfig } from './types.js';

const SECRET_PAIRS: Record<GitCredentials['type'], Array<[string, string]>> = {
  netrc: [['password', 'passwordEnv']],
  token: [['token', 'tokenEnv']],
  'ssh-key': [],
};

const FIELDS: Record<GitCredentials['type'], ReadonlyArray<keyof GitCredentials>> = {
  netrc: ['type', 'host', 'username', 'password', 'passwordEnv'],
  token: ['type', 'host', 'username', 'token', 'tokenEnv'],
  'ssh-key': ['type', 'keyFile', 'knownHostsFile'],
};

/** Violations of the route rules, as "routes.N...: message" lines. */
export function routeViolations(routes: RouteConfig[]): string[] {
  const out: string[] = [];
  routes.forEach((r, i) => {
    const at = `routes.${i}`;
    if (/[\s\p{Cc}]/u.test(r.pattern)) out.push(`${at}.pattern: must not hold spaces or controls`);
    if (r.source === 'proxy') {
      if (r.upstream.trim() === '') out.push(`${at}.upstream: a proxy route needs an upstream`);
      if (r.git) out.push(`${at}.git: only a vcs route takes git (set source: vcs)`);
      return;
    }
    if (r.upstream !== '') out.push(`${at}.upstream: a vcs route takes git, not upstream`);
    if (!r.git) return out.push(`${at}.git: a vcs route needs git (credentials, limits)`);
    for (const [base, prefix] of Object.entries(r.git.insteadOf)) {
      if (!/^(https|ssh):\/\/[^\s]+$/.test(base) || !/^https:\/\/[^\s]+$/.test(prefix))
        out.push(
          `${at}.git.insteadOf: ${base} -> ${prefix}: an https:// or ssh:// base for an https:// prefix`,
        );
    }
    if (r.git.credentials)
      out.push(...credentialViolations(`${at}.git.credentials`, r.git.credentials, r.pattern));
  });
  return out;
}

function credentialViolations(at: string, c: GitCredentials, pattern: string): string[] {
  const out: string[] = [];
  const allowed = FIELDS[c.type];
  for (const k of Object.keys(c) as Array<keyof GitCredentials>) {
    if (!allowed.includes(k)) out.push(`${at}.${k}: not used by type ${c.type}`);
  }
  for (const [plain, env] of SECRET_PAIRS[c.type]) {
    const n =
      Number(c[plain as keyof GitCredentials] !== undefined) +
      Number(c[env as keyof GitCredentials] !== undefined);
    if (n !== 1) out.push(`${at}: type ${c.type} needs exactly one of ${plain}, ${env}`);
  }
  if (c.type === 'netrc' && !c.username) out.push(`${at}.username: type netrc needs a username`);
  if (c.type === 'ssh-key') {
    if (!c.keyFile) out.push(`${at}.keyFile: type ssh-key needs a private key file`);
    if (!c.knownHostsFile)
      out.push(
        `${at}.knownHostsFile: type ssh-key needs a known_hosts file (host keys are never trusted on first use)`,
      );
  }
  for (const k of ['username', 'password', 'token'] as const) {
    if (c[k] !== undefined && /[\s\p{Cc}]/u.test(c[k]))
      out.push(`${at}.${k}: must not hold spaces or controls`);
  }
  if (c.type !== 'ssh-key' && !c.host && !defaultHost(pattern))
    out.push(`${at}.host: the pattern ${pattern} names no single host: set host`);
  return out;
}

/** The host a pattern's first element names, when it is a plain host name. */
export function defaultHost(pattern: string): string | undefined {
  const first = pattern.split(',')[0]?.split('/')[0] ?? '';
  return /^[A-Za-z0-9.-]+(:[0-9]+)?$/.test(first) && first.includes('.') ? first : undefined;
}
