import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { createFakeSumdb, type FakeSumdbCore } from '../helpers/fake-sumdb.js';
import {
  makeModule,
  startFakeUpstream,
  sumdbRecords,
  type FakeModule,
  type FakeUpstream,
} from '../helpers/fake-upstream.js';
import { makeChain } from '../helpers/tls-fixtures.js';
import { makeModuleZip } from '../helpers/modzip.js';
import { startTestGateway } from '../helpers/gateway.js';
import { goEnv } from '../helpers/gocmd.js';
import { initCerts } from '../../src/tls/certs.js';
import { spkiPin } from '../../src/tls/pins.js';
import { hashToken } from '../../src/auth/tokens.js';
import type { Gateway } from '../../src/main.js';

export const TOKEN = 'mgt_e2e-scenarios-0123456789abcdefghijklmnopqrstuv';
export const GOOS_GOARCH = `${process.platform === 'darwin' ? 'darwin' : 'linux'}-${process.arch === 'x64' ? 'amd64' : process.arch}`;

export interface World {
  dir: string;
  db: FakeSumdbCore;
  up: FakeUpstream;
  priv: FakeUpstream;
  gw: Gateway;
  config: Record<string, unknown>;
  certs: { bundleFile: string; caFile: string };
  /** Go environment for a fresh GOPATH under name. */
  env(name: string, extra?: Record<string, string>): Promise<NodeJS.ProcessEnv>;
  close(): Promise<void>;
}

const pkg = (name: string, body = ''): string =>
  `package ${name}\n\nfunc Name() string { return ${JSON.stringify(name)} }\n${body}`;

/** A dozen requirements, with an upper-case path and a +incompatible version. */
export async function publicModules(): Promise<FakeModule[]> {
  const mods: FakeModule[] = [];
  for (let i = 1; i <= 9; i++)
    mods.push(
      await makeModule(`example.com/dep${i}`, 'v1.0.0', {
        'go.mod': `module example.com/dep${i}\n\ngo 1.21\n`,
        'x.go': pkg(`dep${i}`),
      }),
    );
  mods.push(
    await makeModule('github.com/BigCorp/Widget', 'v1.4.0', {
      'go.mod': 'module github.com/BigCorp/Widget\n\ngo 1.21\n',
      'x.go': pkg('widget'),
    }),
  );
  // +incompatible: a v2 tag without a go.mod; the proxy synthesizes the .mod.
  const legacy = 'v2.1.0+incompatible';
  mods.push({
    path: 'example.com/legacy',
    version: legacy,
    info: JSON.stringify({ Version: legacy, Time: '2020-01-01T00:00:00Z' }),
    mod: 'module example.com/legacy\n',
    zip: await makeModuleZip('example.com/legacy', legacy, { 'legacy.go': pkg('legacy') }),
  });
  for (const v of ['v1.0.0', 'v1.1.0', 'v1.2.0', 'v1.3.0']) {
    mods.push(
      await makeModule('example.com/lib', v, {
        'go.mod': 'module example.com/lib\n\ngo 1.21\n',
        'x.go': pkg('lib', `\nconst Version = ${JSON.stringify(v)}\n`),
      }),
    );
  }
  mods.push(
    await makeModule('example.com/victim', 'v1.0.0', {
      'go.mod': 'module example.com/victim\n\ngo 1.21\n',
      'x.go': pkg('victim'),
    }),
  );
  for (const v of ['1.99.1', '1.99.2']) {
    const version = `v0.0.1-go${v}.${GOOS_GOARCH}`;
    const files = {
      'bin/go': `#!/bin/sh\necho "fake go${v} from modgate: $*"\n`,
      'go.mod': 'module golang.org/toolchain\n',
      VERSION: `go${v}\n`,
      // The go command walks these folders after download (marking tools executable).
      'pkg/tool/README': 'tools\n',
      'lib/README': 'lib\n',
      'bin/gofmt': '#!/bin/sh\nexit 0\n',
    };
    mods.push({
      path: 'golang.org/toolchain',
      version,
      info: JSON.stringify({ Version: version, Time: '2024-01-01T00:00:00Z' }),
      mod: 'module golang.org/toolchain\n',
      zip: await makeModuleZip('golang.org/toolchain', version, files),
    });
  }
  return mods;
}

export async function startWorld(dir: string): Promise<World> {
  const mods = await publicModules();
  const db = await createFakeSumdb({
    name: 'sum.e2e.localhost',
    records: await sumdbRecords(mods, dir),
  });
  const chain = makeChain('E2E Upstream Root');
  const tls = {
    cert: chain.leaf.certPem + chain.intermediate.certPem,
    key: chain.leaf.privateKeyPem,
  };
  const up = await startFakeUpstream(mods, { tls, sumdb: db });
  const priv = await startFakeUpstream(
    [
      await makeModule('corp.example/internal', 'v1.0.0', {
        'go.mod': 'module corp.example/internal\n\ngo 1.21\n',
        'x.go': pkg('internal'),
      }),
    ],
    { tls },
  );
  // The tampered toolchain: the upstream serves other bytes than the database recorded.
  const evil = await makeModuleZip('golang.org/toolchain', `v0.0.1-go1.99.2.${GOOS_GOARCH}`, {
    'bin/go': '#!/bin/sh\necho pwned\n',
    'go.mod': 'module golang.org/toolchain\n',
  });
  up.misbehave(`/golang.org/toolchain/@v/v0.0.1-go1.99.2.${GOOS_GOARCH}.zip`, {
    kind: 'replace',
    body: evil,
  });
  await writeFile(path.join(dir, 'upstream-ca.pem'), chain.root.certPem);
  const certs = await initCerts({ dir: path.join(dir, 'certs') });
  const policyData = path.join(dir, 'policy.yaml');
  await writeFile(
    policyData,
    YAML.stringify({
      banned: [
        {
          module: 'example.com/lib',
          versions: '>= v1.3.0',
          reason: 'CVE-2026-4242: remote code execution',
        },
      ],
    }),
  );
  const config = {
    upstream: up.url,
    sumdb: db.verifierKey,
    extraCaFile: path.join(dir, 'upstream-ca.pem'),
    allowHttpUpstream: false,
    pinning: 'required',
    pins: { '127.0.0.1': [spkiPin(chain.root.certPem)] },
    private: 'corp.example',
    routes: [{ pattern: 'corp.example', upstream: priv.url, private: true }],
    tls: { insecureHttp: false, certFile: certs.certFile, keyFile: certs.keyFile },
    auth: {
      required: true,
      tokens: [{ id: 'ci-runner-12', sha256: hashToken(TOKEN), groups: ['ci'] }],
    },
    policy: { dataFile: policyData },
    cache: { listTtlSeconds: 0 },
  };
  const gw = await startTestGateway(path.join(dir, 'data'), config);
  const world: World = {
    dir,
    db,
    up,
    priv,
    gw,
    config,
    certs,
    async env(name, extra = {}) {
      const home = path.join(dir, name);
      const e = await goEnv(home, {
        GOPROXY: gw.url,
        GOSUMDB: db.verifierKey,
        SSL_CERT_FILE: certs.bundleFile,
        NETRC: path.join(home, 'netrc'),
        ...extra,
      });
      await writeFile(
        path.join(home, 'netrc'),
        `machine ${new URL(gw.url).host} login ci-runner-12 password ${TOKEN}\n`,
      );
      return e;
    },
    async close() {
      await gw.close();
      await up.close().catch(() => undefined);
      await priv.close();
    },
  };
  return world;
}
