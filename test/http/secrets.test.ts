import t from 'tap';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import YAML from 'yaml';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { modgate } from '../helpers/cli.js';
import { createRedactor, redactConfig, scrubUserinfo } from '../../src/config/redact.js';
import { validateConfig } from '../../src/config/load.js';
import { testdir } from '../helpers/testdir.js';

const SECRETS = ['s3cret-userinfo', 'dead-pass-77', 'bearer-tok-9182', 'env-pass-5521'];

t.test('scrubUserinfo and the config redactor', async (t) => {
  t.equal(
    scrubUserinfo('GET https://bob:pw@mirror.example/x failed; see http://a@b/'),
    'GET https://[redacted]@mirror.example/x failed; see http://[redacted]@b/',
  );
  t.equal(scrubUserinfo('mail bob@example.com'), 'mail bob@example.com', 'no URL, no change');
  process.env.MODGATE_TEST_SECRET_PW = 'env-pass-5521';
  t.teardown(() => delete process.env.MODGATE_TEST_SECRET_PW);
  const config = validateConfig({
    upstream: 'https://u:s3cret-userinfo@mirror.example/base',
    credentials: {
      'https://mirror.example/': { type: 'bearer', token: 'bearer-tok-9182' },
      'https://other.example/': {
        type: 'basic',
        username: 'x',
        passwordEnv: 'MODGATE_TEST_SECRET_PW',
      },
    },
  });
  const redact = createRedactor(config);
  for (const s of SECRETS.filter((s) => s !== 'dead-pass-77'))
    t.notMatch(redact(`error: ${s} and %{s}`), s, s);
  t.notMatch(JSON.stringify(redactConfig(config)), /s3cret-userinfo|bearer-tok-9182/);
});

t.test('no secret leaves: metrics, logs, audit, config print, error bodies', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  const dir = testdir(t);
  const dataDir = path.join(dir, 'data');
  const port = new URL(up.url).port;
  const raw = {
    upstream: `http://mirror:s3cret-userinfo@127.0.0.1:${port}`,
    routes: [
      // Nothing listens on port 9 of loopback: every fetch fails, with the URL in its error text.
      {
        pattern: 'dead.example',
        upstream: 'http://ops:dead-pass-77@127.0.0.1:9/base',
        private: false,
      },
    ],
    credentials: { [`http://127.0.0.1:${port}/`]: { type: 'bearer', token: 'bearer-tok-9182' } },
    log: { level: 'debug' },
  };
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const gw = await startTestGateway(dataDir, raw, { logger: undefined, logStream: stream });
  t.teardown(() => up.close());
  const bodies: string[] = [];
  for (const url of [
    '/example.com/m/@v/v1.0.0.zip',
    '/example.com/m/@v/list',
    '/dead.example/m/@v/list',
    '/dead.example/m/@v/v1.0.0.mod',
    '/dead.example/m/@latest',
    '/readyz',
    '/metrics',
  ]) {
    const res = await gw.app.inject({ url });
    bodies.push(`${url} ${res.statusCode} ${JSON.stringify(res.headers)} ${res.body}`);
  }
  t.ok(
    bodies.some((b) => /^\/dead\.example\/m\/@v\/v1\.0\.0\.mod 50\d .*UPSTREAM_/s.test(b)),
    'the failing upstream produced an error body',
  );
  t.ok(
    bodies.some((b) => /UPSTREAM_\w+: upstream http:\/\/(\[redacted\]@)?127\.0\.0\.1:9\//.test(b)),
    'the error names the upstream, without its userinfo',
  );
  await gw.close();
  let audit = '';
  for (const f of await readdir(path.join(dataDir, 'audit')))
    if (f.endsWith('.jsonl')) audit += await readFile(path.join(dataDir, 'audit', f), 'utf8');
  t.match(audit, /"type":"access"/, 'the audit trail was written');
  t.match(lines.join(''), /"msg":"request"/, 'the log was written');
  const configFile = path.join(dir, 'modgate.yaml');
  await writeFile(configFile, YAML.stringify({ ...raw, dataDir, allowHttpUpstream: true }));
  const print = await modgate(['config', 'print', '--config', configFile]);
  t.equal(print.code, 0, print.stderr);
  t.match(print.stdout, /\[redacted\]/);
  const sinks = {
    'error bodies and headers, readyz, metrics': bodies.join('\n'),
    logs: lines.join(''),
    audit,
    'config print': print.stdout + print.stderr,
  };
  for (const [sink, text] of Object.entries(sinks))
    for (const s of SECRETS.slice(0, 3)) t.notOk(text.includes(s), `${s} is not in ${sink}`);
});
