/**
 * `modgate demo`: a sample upstream (over pinned TLS) that also serves a sample
 * checksum database, and modgate in front of them with a demo policy, all on
 * loopback and offline. It prints the environment to paste and commands to try.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { validateConfig } from '../config/load.js';
import { startGateway, type Gateway } from '../main.js';
import { initCerts } from '../tls/certs.js';
import { spkiPin } from '../tls/pins.js';
import { asIssuer, buildCert } from '../tls/x509-build.js';
import { PRIVATE_MODULE, startDemoGit } from './private.js';
import { createFakeSumdb } from './sumdb.js';
import {
  makeModule,
  startFakeUpstream,
  sumdbRecords,
  type FakeModule,
  type FakeUpstream,
} from './upstream.js';

export interface Demo {
  dir: string;
  /** The folder is the demo's own temp folder: close() removes it. */
  temporary: boolean;
  gateway: Gateway;
  upstream: FakeUpstream;
  env: Record<string, string>;
  commands: Array<{ say: string; run: string; expect: 'ok' | 'fail' }>;
  close(): Promise<void>;
}

async function sampleModules(): Promise<{ modules: FakeModule[]; tampered: FakeModule }> {
  const lib = (v: string, msg: string): Promise<FakeModule> =>
    makeModule('example.com/greet', v, {
      'greet.go': `package greet\n\nfunc Hello() string { return ${JSON.stringify(msg)} }\n`,
    });
  const modules = [
    await lib('v1.0.0', 'hello'),
    await lib('v1.1.0', 'hello again'),
    await lib('v1.2.0', 'hello from a banned release'),
  ];
  const tampered = await makeModule('example.com/tampered', 'v1.0.0', {
    't.go': 'package tampered\n',
  });
  modules.push(tampered);
  return { modules, tampered };
}

export async function startDemo(opts: { dir?: string; listen?: string } = {}): Promise<Demo> {
  const dir = opts.dir ?? (await mkdtemp(path.join(tmpdir(), 'modgate-demo-')));
  const temporary = opts.dir === undefined;
  try {
    return await runDemo(dir, temporary, opts.listen);
  } catch (err) {
    // A demo that failed to start leaves nothing behind either.
    if (temporary) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function runDemo(dir: string, temporary: boolean, listen?: string): Promise<Demo> {
  await mkdir(dir, { recursive: true });
  const { modules, tampered } = await sampleModules();
  const records = await sumdbRecords(modules, dir);
  const db = await createFakeSumdb({
    name: `demo-${Date.now().toString(36)}.sumdb.localhost`,
    records,
  });
  const root = buildCert({ commonName: 'modgate demo upstream root', isCA: true, days: 7 });
  const leaf = buildCert({
    commonName: 'localhost',
    sans: ['127.0.0.1', 'localhost'],
    issuer: asIssuer(root),
    days: 7,
  });
  const upstream = await startFakeUpstream(modules, {
    tls: { cert: leaf.certPem, key: leaf.privateKeyPem },
    sumdb: db,
  });
  const evil = await makeModule('example.com/tampered', 'v1.0.0', {
    't.go': 'package tampered // with a backdoor\n',
  });
  upstream.misbehave(`/${tampered.path}/@v/v1.0.0.zip`, { kind: 'replace', body: evil.zip });
  await writeFile(path.join(dir, 'upstream-ca.pem'), root.certPem);
  const demoGit = await startDemoGit(dir, {
    cert: leaf.certPem,
    key: leaf.privateKeyPem,
    caFile: path.join(dir, 'upstream-ca.pem'),
  }).catch(async (err: unknown) => {
    await upstream.close();
    throw err;
  });
  const certs = await initCerts({ dir: path.join(dir, 'certs') });
  const policyData = path.join(dir, 'demo-policy.yaml');
  await writeFile(
    policyData,
    '# The demo policy: modgate reloads this file when it changes.\n' +
      'banned:\n  - module: example.com/greet\n    versions: v1.2.0\n    reason: demo ban (pretend CVE-2026-0001)\n',
  );
  const config = validateConfig({
    listen: listen ?? '127.0.0.1:0',
    dataDir: path.join(dir, 'data'),
    upstream: upstream.url,
    sumdb: db.verifierKey,
    extraCaFile: path.join(dir, 'upstream-ca.pem'),
    pins: { '127.0.0.1': [spkiPin(root.certPem)] },
    tls: { certFile: certs.certFile, keyFile: certs.keyFile },
    policy: { dataFile: policyData },
    routes: demoGit ? [demoGit.route] : [],
    log: { level: 'warn' },
  });
  const upstreamUp = upstream;
  const gateway = await startGateway(config, { logger: pino({ level: 'warn' }) }).catch(
    async (err: unknown) => {
      await upstreamUp.close();
      await demoGit?.server.close();
      throw err;
    },
  );
  const gopath = path.join(dir, 'gopath');
  const env = {
    GOPROXY: gateway.url,
    GOSUMDB: db.verifierKey,
    SSL_CERT_FILE: certs.bundleFile,
    GOPATH: gopath,
    GOMODCACHE: path.join(gopath, 'pkg', 'mod'),
    GOFLAGS: '-modcacherw',
    // The private module is not in any checksum database: modgate vouches for it (TOFU).
    GONOSUMDB: demoGit ? 'github.com/modgate-demo' : '',
    GOPRIVATE: '',
    GONOPROXY: '',
  };
  const commands: Demo['commands'] = [
    {
      say: 'an allowed module, verified by modgate and by go',
      run: 'go mod download -json example.com/greet@v1.1.0',
      expect: 'ok',
    },
    {
      say: 'the banned v1.2.0 is hidden from the version list',
      run: 'go list -m -versions example.com/greet',
      expect: 'ok',
    },
    {
      say: 'latest picks the newest allowed version (v1.1.0)',
      run: 'go get example.com/greet@latest',
      expect: 'ok',
    },
    {
      say: 'a banned version: refused with the policy reason',
      run: 'go get example.com/greet@v1.2.0',
      expect: 'fail',
    },
    {
      say: 'a tampered zip: SECURITY ERROR',
      run: 'go mod download -json example.com/tampered@v1.0.0',
      expect: 'fail',
    },
  ];
  if (demoGit)
    commands.splice(1, 0, {
      say: 'a private module, fetched by modgate from a local git repository',
      run: `go mod download -json ${PRIVATE_MODULE}@v1.0.0`,
      expect: 'ok',
    });
  return {
    dir,
    temporary,
    gateway,
    upstream,
    env,
    commands,
    close: async () => {
      await gateway.close();
      await upstream.close();
      await demoGit?.server.close();
      if (temporary) await rm(dir, { recursive: true, force: true });
    },
  };
}

export function describeDemo(d: Demo): string {
  const envLines = Object.entries(d.env).map(([k, v]) => `export ${k}=${v === '' ? "''" : v}`);
  const cmds = d.commands.map((c) => `# ${c.say}\n${c.run}`);
  return [
    `modgate demo is running at ${d.gateway.url} (data in ${d.dir}). Everything is on loopback.`,
    `Its policy data is ${path.join(d.dir, 'demo-policy.yaml')}; its audit trail is in ${path.join(d.dir, 'data', 'audit')}`,
    `(try: npx modgate audit query --audit-dir ${path.join(d.dir, 'data', 'audit')}).`,
    '',
    'Paste these lines into another shell (a fresh GOPATH, so go remembers no other checksum database):',
    '',
    ...envLines,
    '',
    'Then, in an empty folder (mkdir demo-try && cd demo-try && go mod init demo), try:',
    '',
    ...cmds,
    '',
    'Press Ctrl-C to stop.',
  ].join('\n');
}
