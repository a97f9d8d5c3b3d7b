import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { createRedactor, redactConfig } from '../../src/config/redact.js';
import { createGitHome } from '../../src/vcs/home.js';
import { gitConfig } from './helpers.js';
import { testdir } from '../helpers/testdir.js';

const violations = (routes: unknown[]): string[] => {
  try {
    validateConfig({ routes });
  } catch (err) {
    return (err as { details: { violations: string[] } }).details.violations;
  }
  return [];
};

t.test('the schema refuses bad combinations, each with a clear line', async (t) => {
  t.same(
    violations([{ pattern: 'git.corp.example', source: 'vcs', upstream: 'https://p.example' }]),
    [
      'routes.0.upstream: a vcs route takes git, not upstream',
      'routes.0.git: a vcs route needs git (credentials, limits)',
    ],
  );
  t.same(violations([{ pattern: 'x.example', git: {} }]), [
    'routes.0.upstream: a proxy route needs an upstream',
    'routes.0.git: only a vcs route takes git (set source: vcs)',
  ]);
  t.same(
    violations([
      {
        pattern: 'git.corp.example',
        source: 'vcs',
        git: { credentials: { type: 'token', token: 'a', tokenEnv: 'B' } },
      },
    ]),
    ['routes.0.git.credentials: type token needs exactly one of token, tokenEnv'],
  );
  t.same(
    violations([
      {
        pattern: 'git.corp.example',
        source: 'vcs',
        git: { credentials: { type: 'ssh-key', keyFile: '/k', token: 'x' } },
      },
    ]),
    [
      'routes.0.git.credentials.token: not used by type ssh-key',
      'routes.0.git.credentials.knownHostsFile: type ssh-key needs a known_hosts file (host keys are never trusted on first use)',
    ],
  );
  t.same(
    violations([
      {
        pattern: '*.corp.example',
        source: 'vcs',
        git: { credentials: { type: 'netrc', username: 'u', password: 'p' } },
      },
    ]),
    ['routes.0.git.credentials.host: the pattern *.corp.example names no single host: set host'],
  );
  t.same(
    violations([
      {
        pattern: 'git.corp.example',
        source: 'vcs',
        git: { credentials: { type: 'netrc', username: 'u', password: 'p q' } },
      },
    ]),
    ['routes.0.git.credentials.password: must not hold spaces or controls'],
  );
  t.match(
    violations([{ pattern: 'g.example', source: 'git' }])[0],
    /routes\.0\.source: must be equal to one of the allowed values: proxy, vcs/,
  );
  t.match(
    violations([
      {
        pattern: 'g.example',
        source: 'vcs',
        git: { insteadOf: { 'ext::sh -c evil': 'https://g.example/' } },
      },
    ])[0],
    /insteadOf/,
  );
  const ok = validateConfig({ routes: [{ pattern: 'git.corp.example', source: 'vcs', git: {} }] });
  t.same(ok.routes[0], {
    pattern: 'git.corp.example',
    source: 'vcs',
    upstream: '',
    private: false,
    git: {
      insteadOf: {},
      goBinary: 'go',
      concurrency: 4,
      timeoutMs: 120000,
      maxRepoBytes: 1073741824,
      cacheRepos: 64,
    },
  });
});

t.test('config print and every redacted exit hide git secrets', async (t) => {
  process.env.VCS_TEST_PW = 'pw-from-env-998877';
  const config = validateConfig({
    routes: [
      {
        pattern: 'a.example',
        source: 'vcs',
        git: { credentials: { type: 'token', token: 'tok-in-file-112233' } },
      },
      {
        pattern: 'b.example',
        source: 'vcs',
        git: { credentials: { type: 'netrc', username: 'u', passwordEnv: 'VCS_TEST_PW' } },
      },
    ],
  });
  const printed = JSON.stringify(redactConfig(config));
  t.notMatch(printed, 'tok-in-file-112233');
  const redact = createRedactor(config);
  t.equal(redact('x tok-in-file-112233 y pw-from-env-998877'), 'x [redacted] y [redacted]');
});

t.test('the private git home: 0700 and 0600, the secret in files only', async (t) => {
  const secret = 'tok-very-secret-424242';
  const home = await createGitHome({
    pattern: 'git.corp.example/team',
    git: gitConfig({ credentials: { type: 'token', tokenEnv: 'MY_GIT_TOKEN' } }),
    at: 'routes.0',
    env: { MY_GIT_TOKEN: secret, HOME: '/nonexistent' },
  });
  t.teardown(() => home.dispose());
  t.equal((await stat(home.dir)).mode & 0o777, 0o700);
  t.notOk(
    Object.values(home.env).some((v) => v.includes(secret)),
    'no secret in the environment',
  );
  const cfg = await readFile(home.env.GIT_CONFIG_GLOBAL!, 'utf8');
  t.notMatch(cfg, secret, 'nor in the git config');
  t.match(
    cfg,
    /\[credential "https:\/\/git\.corp\.example"\]/,
    'the helper answers for the one host',
  );
  t.match(cfg, /allow = never/);
  const creds = path.join(home.dir, 'git-credentials');
  t.equal((await stat(creds)).mode & 0o777, 0o400);
  t.match(await readFile(creds, 'utf8'), `password=${secret}`);
  t.same(home.secrets, [secret]);
  await t.rejects(
    createGitHome({
      pattern: 'git.corp.example',
      git: gitConfig({ credentials: { type: 'token', tokenEnv: 'UNSET_VAR' } }),
      at: 'routes.0',
      env: {},
    }),
    {
      code: 'CONFIG_INVALID',
      message:
        /routes\.0\.git\.credentials\.tokenEnv: the environment variable UNSET_VAR is not set/,
    },
  );
});

t.test('netrc and ssh-key homes', async (t) => {
  const dir = testdir(t, { key: 'PRIVATE KEY', known: 'git.corp.example ssh-ed25519 AAAA' });
  const netrc = await createGitHome({
    pattern: 'git.corp.example',
    git: gitConfig({ credentials: { type: 'netrc', username: 'bot', password: 'pw-123456' } }),
    at: 'routes.0',
    env: {},
  });
  t.teardown(() => netrc.dispose());
  t.equal(
    await readFile(netrc.env.NETRC!, 'utf8'),
    'machine git.corp.example\nlogin bot\npassword pw-123456\n',
  );
  t.equal((await stat(netrc.env.NETRC!)).mode & 0o777, 0o600);
  await writeFile(path.join(dir, 'key'), 'PRIVATE KEY', { mode: 0o644 });
  const ssh = await createGitHome({
    pattern: 'git.corp.example',
    git: gitConfig({
      credentials: {
        type: 'ssh-key',
        keyFile: path.join(dir, 'key'),
        knownHostsFile: path.join(dir, 'known'),
      },
      insteadOf: { 'ssh://git@git.corp.example/': 'https://git.corp.example/' },
    }),
    at: 'routes.0',
    env: {},
  });
  t.teardown(() => ssh.dispose());
  t.match(ssh.env.GIT_SSH_COMMAND, /StrictHostKeyChecking=yes/);
  t.match(ssh.env.GIT_SSH_COMMAND, /-F \/dev\/null/);
  const key = ssh.env.GIT_SSH_COMMAND!.match(/-i (\S+)/)![1]!;
  t.equal((await stat(key)).mode & 0o777, 0o600, 'the key copy is 0600 whatever the original');
  t.match(
    await readFile(ssh.env.GIT_CONFIG_GLOBAL!, 'utf8'),
    /\[url "ssh:\/\/git@git\.corp\.example\/"\]\n\tinsteadOf = "https:\/\/git\.corp\.example\/"/,
  );
});
