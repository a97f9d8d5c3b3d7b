import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { isModgateError, ModgateError } from '../../src/errors.js';
import { classify, scrubber } from '../../src/vcs/errors.js';
import { createVcsSources } from '../../src/vcs/index.js';
import { runGo } from '../../src/vcs/run.js';
import { testdir } from '../helpers/testdir.js';

const base = {
  env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  cwd: '/',
  route: 'git.corp.example',
  timeoutMs: 60_000,
  signal: new AbortController().signal,
  maxOutputBytes: 1 << 20,
};

t.test('a program that cannot start is VCS_FAILED naming the route', async (t) => {
  await t.rejects(runGo({ ...base, bin: '/nonexistent/go', args: ['version'] }), {
    code: 'VCS_FAILED',
    message: /route git\.corp\.example: cannot run \/nonexistent\/go: ENOENT/,
  });
});

t.test('too much output kills the command', async (t) => {
  await t.rejects(runGo({ ...base, bin: 'yes', args: ['spam'], maxOutputBytes: 1 << 16 }), {
    code: 'VCS_FAILED',
    message: /too much output/,
  });
});

t.test('arguments reach the program as they are: no shell', async (t) => {
  const r = await runGo({ ...base, bin: 'echo', args: ['$(id)', '; rm -rf /', '`x`'] });
  t.equal(r.stdout, '$(id) ; rm -rf / `x`\n');
  t.equal(r.code, 0);
});

t.test('an aborted signal before the start runs nothing', async (t) => {
  const ctl = new AbortController();
  ctl.abort(new ModgateError('CLIENT_GONE', 'gone'));
  await t.rejects(runGo({ ...base, bin: 'echo', args: ['x'], signal: ctl.signal }), {
    code: 'CLIENT_GONE',
  });
});

t.test('the go command error texts map to GOPROXY answers', async (t) => {
  const scrub = scrubber(['s3cret-token'], { '/data/vcs/abc': '$ROUTE' });
  const kind = (text: string) => classify(text, 'git.corp.example', scrub);
  const cases: Array<[string, string]> = [
    ["fatal: repository 'https://git.corp.example/x/' not found", 'not_found'],
    ['invalid version: unknown revision v9.9.9', 'not_found'],
    ['no matching versions for query "latest"', 'not_found'],
    ['go.mod has post-v1 module path "x/v2" at revision v2.0.0', 'not_found'],
    ["fatal: Authentication failed for 'https://git.corp.example/x/'", 'VCS_AUTH_FAILED'],
    ['fatal: could not read Username for ...: terminal prompts disabled', 'VCS_AUTH_FAILED'],
    ['git@git.corp.example: Permission denied (publickey).', 'VCS_AUTH_FAILED'],
    ['Host key verification failed.', 'VCS_AUTH_FAILED'],
    [
      "invalid version: fatal: unable to access 'https://x/': Could not resolve host: x",
      'VCS_FAILED',
    ],
    ['something else entirely', 'VCS_FAILED'],
  ];
  for (const [text, want] of cases) {
    const f = kind(text);
    t.equal(f.kind === 'not_found' ? 'not_found' : f.error.code, want, text);
  }
  const f = kind(
    "fatal: Authentication failed for 'https://bot:s3cret-token@git.corp.example/x/' in /data/vcs/abc/runs",
  );
  t.ok(f.kind === 'error' && isModgateError(f.error, 'VCS_AUTH_FAILED'));
  const msg = f.kind === 'error' ? f.error.message : '';
  t.notMatch(msg, 's3cret-token');
  t.notMatch(msg, 'bot:');
  t.match(msg, /\$ROUTE\/runs/);
  t.match(msg, /check the route's git\.credentials/);
});

t.test(
  'a vcs route whose go command does not run stops the start with a clear error',
  async (t) => {
    const config = validateConfig({
      dataDir: testdir(t),
      routes: [
        { pattern: 'git.corp.example', source: 'vcs', git: { goBinary: '/nonexistent/go' } },
      ],
    });
    await t.rejects(createVcsSources(config), {
      code: 'CONFIG_INVALID',
      message: /routes\.0\.git\.goBinary: cannot run \/nonexistent\/go/,
    });
  },
);

t.test('one source per vcs route, closed cleanly', async (t) => {
  const config = validateConfig({
    dataDir: testdir(t),
    routes: [
      { pattern: 'proxy.example', upstream: 'https://proxy.example' },
      {
        pattern: 'git.corp.example',
        source: 'vcs',
        git: { goBinary: '/usr/local/go/bin/go', credentials: { type: 'token', tokenEnv: 'T' } },
      },
    ],
  });
  await t.rejects(createVcsSources(config, { env: { PATH: process.env.PATH } }), {
    code: 'CONFIG_INVALID',
    message: /tokenEnv: the environment variable T is not set/,
  });
  const sources = await createVcsSources(config, { env: { PATH: process.env.PATH, T: 'tok' } });
  t.same([...sources.keys()], [1]);
  t.equal(sources.get(1)!.name, 'vcs:git.corp.example');
  await Promise.all([...sources.values()].map((s) => s.close()));
});
