import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { modgate } from '../helpers/cli.js';

const env = { GOPROXY: 'https://env-proxy.example', GOPRIVATE: 'corp.example', MODGATE_CONFIG: '' };

t.test(
  'config print shows the effective config with secrets redacted; config check reports every violation',
  async (t) => {
    const dir = t.testdir();
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
    t.notMatch(printed.stdout, /s3cret-token/);
    const ok = await modgate(['config', 'check', '--config', file], { env });
    t.equal(ok.code, 0);
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
  },
);
