import t from 'tap';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { modgate } from '../helpers/cli.js';
import { testdir } from '../helpers/testdir.js';

const env = { GOPROXY: 'https://env-proxy.example', GOPRIVATE: 'corp.example', MODGATE_CONFIG: '' };

t.test(
  'config print shows the effective config with secrets redacted; config check reports every violation',
  async (t) => {
    const dir = testdir(t);
    const file = path.join(dir, 'modgate.yaml');
    await writeFile(
      file,
      YAML.stringify({
        listen: '0.0.0.0:9443',
        credentials: { 'https://corp.example': { type: 'bearer', token: 's3cret-token' } },
      }),
    );
    const printed = await modgate(['config', 'print', '--config', file, '--format', 'json'], {
      env,
    });
    t.equal(printed.code, 0, printed.stderr);
    const cfg = JSON.parse(printed.stdout);
    t.equal(cfg.listen, '0.0.0.0:9443', 'file value');
    t.equal(cfg.upstream, 'https://env-proxy.example', 'GOPROXY from the environment');
    t.equal(cfg.private, 'corp.example', 'GOPRIVATE from the environment');
    t.equal(cfg.limits.zipBytes, 500 * 1024 * 1024, 'defaults');
    t.same(cfg.effective, {
      upstream: 'https://env-proxy.example',
      sumdb: 'sum.golang.org (through the upstreams, else directly)',
    });
    t.notMatch(printed.stdout, /s3cret-token/);
    await writeFile(file, YAML.stringify({ listen: '0.0.0.0:9443', tls: { insecureHttp: true } }));
    const ok = await modgate(['config', 'check', '--config', file], { env });
    t.equal(ok.code, 0, ok.stderr);
    t.match(ok.stdout, /config ok/);
    await writeFile(
      file,
      'listen: 1\nauth: {tokens: [{id: x, sha256: nothex}]}\nhttp: {retries: -1}\n',
    );
    const bad = await modgate(['config', 'check', '--config', file], { env });
    t.equal(bad.code, 1);
    t.match(bad.stderr, /listen: must be string/);
    t.match(bad.stderr, /auth\.tokens\.0\.sha256: must match pattern/);
    t.match(bad.stderr, /http\.retries: must be >= 0/);
    t.equal(bad.stderr.split('\n').filter(Boolean).length, 1, 'one line');
  },
);

t.test('config check runs the checks serve makes at start', async (t) => {
  const dir = testdir(t);
  const file = path.join(dir, 'modgate.yaml');
  const base = { dataDir: path.join(dir, 'data'), tls: { insecureHttp: true } };
  await writeFile(
    file,
    YAML.stringify({
      ...base,
      pins: { 'proxy.corp.example': ['Vfd95BwDeSQo+NUYxVEEIlvkOlWY2SalKK1lPhzOx78='] },
    }),
  );
  const pin = await modgate(['config', 'check', '--config', file], { env });
  t.equal(pin.code, 1, 'a pin without sha256/ fails as serve would');
  t.match(pin.stderr, /^error: PIN_INVALID: pin "Vfd95/);
  t.same(await readdir(dir), ['modgate.yaml'], 'config check writes nothing');
  await writeFile(
    file,
    YAML.stringify({
      ...base,
      upstream: 'ftp://proxy.corp.example',
      sumdb: 'not a key',
      audit: { syslog: 'smoke-signals' },
    }),
  );
  const many = await modgate(['config', 'check', '--config', file], { env });
  t.equal(many.code, 1);
  const line = many.stderr.trim();
  t.equal(line.split('\n').length, 1, 'one line');
  t.match(line, /^error: UPSTREAM_LIST_INVALID: 3 problems: /);
  t.match(line, /GOSUMDB_INVALID/);
  t.match(line, /audit\.syslog must look like udp:/);
  await writeFile(
    file,
    YAML.stringify({ ...base, tls: { insecureHttp: false, certFile: path.join(dir, 'none.pem') } }),
  );
  const tls = await modgate(['config', 'check', '--config', file], { env });
  t.equal(tls.code, 1, 'missing TLS files fail as at serve');
  t.match(tls.stderr, /^error: TLS_FILES_INVALID: /);
});

t.test(
  'config print names the effective upstream without direct/off, and the checksum database',
  async (t) => {
    const r = await modgate(['config', 'print'], {
      env: { ...env, GOPROXY: 'https://a.example|https://b.example,direct', GOSUMDB: 'off' },
    });
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^# effective upstream: https:\/\/a\.example\|https:\/\/b\.example\n/);
    t.match(r.stdout, /# checksum database: off/);
    const none = await modgate(['config', 'print', '--format', 'json'], {
      env: { ...env, GOPROXY: 'direct' },
    });
    t.match(JSON.parse(none.stdout).effective.upstream, /^\(none/);
  },
);
