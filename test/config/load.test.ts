import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, modgateEnv } from '../../src/config/load.js';
import { redactConfig } from '../../src/config/redact.js';
import { configReference } from '../../src/config/doc.js';
import { readFile } from 'node:fs/promises';
import { repoRoot } from '../helpers/testdata.js';
import { testdir } from '../helpers/testdir.js';

const noGo = async (): Promise<undefined> => undefined;

t.test('defaults apply with an empty environment', async (t) => {
  const c = await loadConfig({ env: {}, goEnv: noGo });
  t.equal(c.listen, '127.0.0.1:8443');
  t.equal(c.dataDir, './data');
  t.equal(c.tls.insecureHttp, false);
  t.equal(c.limits.zipBytes, 500 * 1024 * 1024);
  t.equal(c.policy.mode, 'enforce');
  t.equal(c.audit.onFailure, 'refuse');
  t.equal(c.upstream, undefined);
});

t.test('precedence: Go env < file < MODGATE_* < flags', async (t) => {
  const dir = testdir(t);
  const file = path.join(dir, 'modgate.yaml');
  await writeFile(
    file,
    'upstream: https://file.example\nlisten: 127.0.0.1:1\ntls:\n  insecureHttp: true\n',
  );
  const env = {
    GOPROXY: 'https://env.example,direct',
    GOPRIVATE: 'corp.example',
    GONOSUMDB: 'nosum.example',
    MODGATE_LISTEN: '127.0.0.1:2',
  };
  const c = await loadConfig({ file, env, goEnv: noGo, flags: { dataDir: '/tmp/x' } });
  t.equal(c.upstream, 'https://file.example');
  t.equal(c.listen, '127.0.0.1:2');
  t.equal(c.dataDir, '/tmp/x');
  t.equal(c.tls.insecureHttp, true);
  t.equal(c.private, 'corp.example');
  t.equal(c.noSumdb, 'nosum.example,corp.example');
  const c2 = await loadConfig({ env: { GOPROXY: 'https://env.example' }, goEnv: noGo });
  t.equal(c2.upstream, 'https://env.example');
  const c3 = await loadConfig({
    env: {},
    goEnv: async (n) => (n === 'GOPROXY' ? 'https://goenv.example' : undefined),
  });
  t.equal(c3.upstream, 'https://goenv.example', 'falls back to `go env GOPROXY`');
});

t.test('every violation is reported at once, with its path', async (t) => {
  const dir = testdir(t);
  const file = path.join(dir, 'bad.yaml');
  await writeFile(file, 'listen: 8443\npolicy:\n  mode: maybe\nhttp:\n  retries: 99\nbogus: 1\n');
  const err = await loadConfig({ file, env: {}, goEnv: noGo }).catch((e: unknown) => e);
  t.match(err, { code: 'CONFIG_INVALID' });
  const v = (err as { details: { violations: string[] } }).details.violations;
  t.ok(
    v.some((x) => x.startsWith('listen:')),
    'listen type',
  );
  t.ok(
    v.some((x) => x.startsWith('policy.mode:') && x.includes('enforce')),
    'enum lists allowed values',
  );
  t.ok(
    v.some((x) => x.startsWith('http.retries:')),
    'range',
  );
  t.ok(
    v.some((x) => x.includes("'bogus'")),
    'unknown key',
  );
});

t.test('unreadable and non-YAML files have their own codes', async (t) => {
  await t.rejects(loadConfig({ file: '/nonexistent/modgate.yaml', env: {}, goEnv: noGo }), {
    code: 'CONFIG_UNREADABLE',
  });
  const file = path.join(testdir(t), 'x.yaml');
  await writeFile(file, 'a: [1, 2\n');
  await t.rejects(loadConfig({ file, env: {}, goEnv: noGo }), { code: 'CONFIG_INVALID' });
});

t.test('MODGATE_* variables map to nested keys', async (t) => {
  t.same(
    modgateEnv({
      MODGATE_TLS__INSECURE_HTTP: 'true',
      MODGATE_HTTP__RETRIES: '3',
      MODGATE_CONFIG: 'x',
    }),
    [
      ['tls.insecureHttp', true],
      ['http.retries', 3],
    ],
  );
});

t.test('printing redacts secrets', async (t) => {
  const c = await loadConfig({
    env: {},
    goEnv: noGo,
    flags: {
      credentials: {
        'https://corp.example': { type: 'basic', username: 'u', password: 'hunter2' },
      },
      upstream: 'https://user:pw@corp.example',
    },
  });
  const text = JSON.stringify(redactConfig(c));
  t.notMatch(text, /hunter2/);
  t.notMatch(text, /user:pw/);
  t.match(text, /\[redacted\]/);
});

t.test('docs/configuration.md is generated from the current schema', async (t) => {
  const doc = await readFile(path.join(repoRoot, 'docs', 'configuration.md'), 'utf8');
  t.equal(doc, configReference(), 'run `npm run docs:config`');
});
