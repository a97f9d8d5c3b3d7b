import t from 'tap';
import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { request } from 'undici';
import { modgate } from '../helpers/cli.js';
import { repoRoot } from '../helpers/testdata.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { testdir } from '../helpers/testdir.js';

const env = {
  GOPROXY: 'off',
  GOSUMDB: 'off',
  GOPRIVATE: '',
  GONOSUMDB: '',
  GONOPROXY: '',
  MODGATE_CONFIG: '',
};

t.test(
  'serve logs its start line with the real URL and shuts down gracefully on SIGTERM',
  async (t) => {
    const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
    t.teardown(() => up.close());
    const dir = testdir(t);
    const child = spawn(
      process.execPath,
      [
        path.join(repoRoot, 'bin', 'modgate.js'),
        'serve',
        '--workers',
        '1',
        '--listen',
        '127.0.0.1:0',
        '--insecure-http',
        '--allow-http-upstream',
        '--upstream',
        up.url,
        '--data',
        dir,
      ],
      {
        env: {
          ...process.env,
          ...env,
          MODGATE_PINNING: 'optional',
          MODGATE_AUDIT__ENABLED: 'false',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        for (const line of out.split('\n')) {
          if (!line.startsWith('{')) continue;
          const rec = JSON.parse(line) as { msg?: string; url?: string };
          if (rec.msg?.startsWith('modgate serving on') && rec.url) resolve(rec.url);
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    t.match(url, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    const res = await request(`${url}/example.com/m/@v/list`);
    t.equal(await res.body.text(), 'v1.0.0\n');
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    t.equal(await exit, 0);
  },
);

t.test('a port in use and a bad config exit non-zero with a clear message', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const busy = await modgate(
    ['serve', '--listen', `127.0.0.1:${port}`, '--insecure-http', '--data', testdir(t)],
    { env },
  );
  t.equal(busy.code, 1);
  t.match(busy.stderr, /error: LISTEN_FAILED: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
  const cfg = path.join(testdir(t), 'bad.yaml');
  await writeFile(cfg, 'listen: [1]\npolicy: {mode: sometimes}\n');
  const bad = await modgate(['serve', '--config', cfg], { env });
  t.equal(bad.code, 1);
  t.match(
    bad.stderr,
    /^error: CONFIG_INVALID: invalid configuration: listen: must be string; policy\.mode: must be equal to one of the allowed values: enforce, dry-run\n$/,
    'every violation, on one line',
  );
});

t.test('every command has a --help that describes its options', async (t) => {
  const top = await modgate(['--help']);
  t.equal(top.code, 0);
  const commands = ['serve', 'config', 'verify', 'certs', 'pins'];
  for (const c of commands) t.match(top.stdout, new RegExp(`^  ${c}\\b`, 'm'), `lists ${c}`);
  const serve = await modgate(['serve', '--help']);
  for (const flag of [
    '--config',
    '--listen',
    '--data',
    '--upstream',
    '--sumdb',
    '--tls-cert',
    '--tls-key',
    '--insecure-http',
    '--pin',
    '--allow-http-upstream',
    '--policy',
    '--policy-data',
    '--policy-mode',
    '--audit-dir',
  ]) {
    t.match(serve.stdout, flag, `serve --help mentions ${flag}`);
  }
  const unknown = await modgate(['serve', '--no-such-flag']);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /^error: USAGE: unknown option '--no-such-flag'\n$/);
});

t.test(
  'serve checks everything before it writes anything: a bad pin leaves the data folder empty',
  async (t) => {
    const root = testdir(t);
    const data = path.join(root, 'data');
    const certs = path.join(root, 'certs');
    const cfg = path.join(root, 'modgate.yaml');
    await writeFile(
      cfg,
      `dataDir: ${data}\ntls: {certFile: ${certs}/server.pem, keyFile: ${certs}/server-key.pem}\n` +
        'upstream: https://proxy.corp.example\npins: {proxy.corp.example: [Vfd95BwDeSQo+NUYxVEEIlvkOlWY2SalKK1lPhzOx78=]}\n',
    );
    const serve = await modgate(['serve', '--config', cfg, '--insecure-http'], { cwd: root, env });
    t.equal(serve.code, 1);
    t.match(serve.stderr, /^error: PIN_INVALID: pin "Vfd95.*" is not sha256\/ followed by base64/);
    t.same(await readdir(root), ['modgate.yaml'], 'no data folder, no audit key, no segment');
    const ensure = await modgate(['certs', 'ensure', '--config', cfg, '--dir', certs], {
      cwd: root,
      env,
    });
    t.equal(ensure.code, 1, 'npm start (certs ensure first) stops too');
    t.match(ensure.stderr, /^error: PIN_INVALID: /);
    t.same(await readdir(root), ['modgate.yaml'], 'no certificates either');
    const flag = await modgate(
      ['serve', '--insecure-http', '--data', data, '--pin', 'proxy.corp.example:sha256/AAAA'],
      { cwd: root, env },
    );
    t.match(flag.stderr, /^error: PIN_INVALID: --pin must be HOST=sha256\/BASE64/);
    t.same(await readdir(root), ['modgate.yaml']);
    // A configured verifier key without its key file: refused before a new key is created.
    const key = await modgate(['serve', '--insecure-http', '--data', data, '--upstream', 'off'], {
      cwd: root,
      env: {
        ...env,
        MODGATE_AUDIT__VERIFIER_KEY:
          'modgate-audit+1a2b3c4d+AXYyQnRbcd6CnYT0xw9ZzOdLhSw8xEPGJJ1pNVI2pOKM',
      },
    });
    t.equal(key.code, 1);
    t.match(key.stderr, /^error: (AUDIT_KEY_MISMATCH|NOTE_KEY_INVALID): /);
    t.same(await readdir(root), ['modgate.yaml']);
  },
);
