import t, { type Test } from 'tap';
import Fastify, { type FastifyInstance } from 'fastify';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { writeFileAtomic } from '../../src/storage/atomic.js';
import {
  buildHttpsOptions,
  CertReloader,
  loadTlsPair,
  type ReloadEvent,
} from '../../src/tls/server.js';
import { makeChain, makeLeaf, makeRoot, type BuiltCert } from '../helpers/tls-fixtures.js';

const chain = makeChain();
const clientCa = makeRoot('Client CA');
const goodClient = makeLeaf(clientCa, { name: 'alice', sans: [] });
const strangerCa = makeRoot('Client CA');
const badClient = makeLeaf(strangerCa, { name: 'alice', sans: [] });

interface Setup {
  dir: string;
  certFile: string;
  keyFile: string;
  caFile: string;
  app: FastifyInstance;
  port: number;
  write(leaf: BuiltCert): Promise<void>;
}

async function setup(
  t: Test,
  opts: { requireClientCert?: boolean; withCa?: boolean } = {},
): Promise<Setup> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certFile = path.join(dir, 'server.pem');
  const keyFile = path.join(dir, 'server-key.pem');
  const caFile = path.join(dir, 'clients.pem');
  const write = async (leaf: BuiltCert): Promise<void> => {
    await writeFileAtomic(keyFile, leaf.privateKeyPem, 0o600);
    await writeFileAtomic(certFile, leaf.certPem + chain.intermediate.certPem);
  };
  await write(chain.leaf);
  await writeFile(caFile, clientCa.certPem);
  const fileOpts = {
    certFile,
    keyFile,
    ...(opts.withCa ? { caFile, requireClientCert: opts.requireClientCert ?? false } : {}),
  };
  const httpsOpts = await buildHttpsOptions(fileOpts);
  const app = Fastify({
    http2: true,
    https: { allowHTTP1: true, ...httpsOpts },
  } as never) as unknown as FastifyInstance;
  app.get('/v', async (req) => {
    const sock = req.raw.socket as tls.TLSSocket;
    return {
      version: req.raw.httpVersion,
      authorized: sock.authorized,
      cn: sock.getPeerCertificate?.()?.subject?.CN ?? null,
    };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  return {
    dir,
    certFile,
    keyFile,
    caFile,
    app,
    port: (app.server.address() as AddressInfo).port,
    write,
  };
}

const trust = chain.root.certPem;

function h1(
  port: number,
  client?: BuiltCert,
): Promise<{ status: number; body: string; fp: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/v',
        servername: 'localhost',
        ca: trust,
        agent: false,
        ...(client ? { cert: client.certPem, key: client.privateKeyPem } : {}),
      },
      (res) => {
        const fp = (res.socket as tls.TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? '';
        let body = '';
        res
          .on('data', (c) => (body += c))
          .on('end', () => resolve({ status: res.statusCode ?? 0, body, fp }));
      },
    );
    req.on('error', reject).end();
  });
}

function h2(session: http2.ClientHttp2Session): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/v' });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req
      .on('data', (c) => (body += c))
      .on('end', () => resolve({ status, body }))
      .on('error', reject);
    req.end();
  });
}

function h2session(port: number): http2.ClientHttp2Session {
  const s = http2.connect(`https://127.0.0.1:${port}`, { ca: trust, servername: 'localhost' });
  s.on('error', () => {});
  return s;
}

t.test('loadTlsPair rejects bad pairs', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-pair-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const f = (n: string): string => path.join(dir, n);
  const other = makeLeaf(chain.intermediate);
  await writeFile(f('c.pem'), chain.leaf.certPem);
  await writeFile(f('k.pem'), chain.leaf.privateKeyPem);
  await writeFile(f('k2.pem'), other.privateKeyPem);
  await writeFile(f('half.pem'), chain.leaf.certPem.slice(0, 400));
  await writeFile(f('halfkey.pem'), chain.leaf.privateKeyPem.slice(0, 500));
  const expired = makeLeaf(chain.intermediate, {
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    days: 1,
  });
  await writeFile(f('old.pem'), expired.certPem);
  await writeFile(f('oldk.pem'), expired.privateKeyPem);
  t.ok((await loadTlsPair({ certFile: f('c.pem'), keyFile: f('k.pem') })).leaf);
  await t.rejects(loadTlsPair({ certFile: f('c.pem'), keyFile: f('k2.pem') }), {
    code: 'TLS_KEY_MISMATCH',
  });
  await t.rejects(loadTlsPair({ certFile: f('half.pem'), keyFile: f('k.pem') }), {
    code: 'TLS_FILES_INVALID',
  });
  await t.rejects(loadTlsPair({ certFile: f('c.pem'), keyFile: f('halfkey.pem') }), {
    code: 'TLS_FILES_INVALID',
  });
  await t.rejects(loadTlsPair({ certFile: f('nope.pem'), keyFile: f('k.pem') }), {
    code: 'TLS_FILES_INVALID',
  });
  await t.rejects(loadTlsPair({ certFile: f('old.pem'), keyFile: f('oldk.pem') }), {
    code: 'TLS_CERT_EXPIRED',
  });
  await t.rejects(
    loadTlsPair({ certFile: f('c.pem'), keyFile: f('k.pem'), caFile: f('half.pem') }),
    { code: 'TLS_FILES_INVALID' },
  );
  const o = await buildHttpsOptions({ certFile: f('c.pem'), keyFile: f('k.pem') });
  t.match(o, { minVersion: 'TLSv1.2', requestCert: false, rejectUnauthorized: false });
  t.notMatch(o.ciphers, /CBC|RSA-AES128-SHA\b/);
});

t.test('HTTP/2 and HTTP/1.1 on the same port', async (t) => {
  const s = await setup(t);
  const one = await h1(s.port);
  t.equal(one.status, 200);
  t.equal(JSON.parse(one.body).version, '1.1');
  const session = h2session(s.port);
  t.teardown(() => session.close());
  const two = await h2(session);
  t.equal(two.status, 200);
  t.equal(JSON.parse(two.body).version, '2.0');
  await t.rejects(
    new Promise((resolve, reject) => {
      const sock = tls.connect(
        {
          host: '127.0.0.1',
          port: s.port,
          ca: trust,
          servername: 'localhost',
          maxVersion: 'TLSv1.1',
          minVersion: 'TLSv1',
        },
        () => resolve(sock.end()),
      );
      sock.on('error', reject);
    }),
    'TLS 1.1 refused',
  );
});

t.test('cert hot reload under load drops no request', async (t) => {
  const s = await setup(t);
  const events: ReloadEvent[] = [];
  const reloader = new CertReloader(s.app.server as never, {
    certFile: s.certFile,
    keyFile: s.keyFile,
    debounceMs: 20,
    signal: false,
  }).start();
  reloader.on('reload', (e) => events.push(e));
  t.teardown(() => reloader.stop());
  const leaves = [
    makeLeaf(chain.intermediate),
    makeLeaf(chain.intermediate),
    makeLeaf(chain.intermediate),
  ];
  let failures = 0;
  let done = 0;
  const session = h2session(s.port);
  t.teardown(() => session.close());
  const load = (async () => {
    for (let i = 0; i < 120; i++) {
      const results = await Promise.allSettled([h1(s.port), h2(session), h1(s.port)]);
      for (const r of results) {
        if (r.status === 'fulfilled' && r.value.status === 200) done++;
        else failures++;
      }
    }
  })();
  for (const leaf of leaves) {
    await new Promise((r) => setTimeout(r, 60));
    await s.write(leaf);
  }
  await load;
  await new Promise((r) => setTimeout(r, 100));
  t.equal(failures, 0, 'no failed request');
  t.equal(done, 360);
  t.ok(
    events.filter((e) => e.kind === 'reloaded' && e.trigger.startsWith('file')).length >= 2,
    `reloads: ${events.map((e) => e.kind).join(',')}`,
  );
  t.equal(
    (await h1(s.port)).fp,
    leaves[2]!.x509.fingerprint256,
    'new connections get the last certificate',
  );
});

t.test('a bad or mismatched pair is rejected and the old certificate stays', async (t) => {
  const s = await setup(t);
  const reloader = new CertReloader(s.app.server as never, {
    certFile: s.certFile,
    keyFile: s.keyFile,
    signal: 'SIGHUP',
    watch: false,
  }).start();
  t.teardown(() => reloader.stop());
  const events: ReloadEvent[] = [];
  reloader.on('reload', (e) => events.push(e));
  const before = (await h1(s.port)).fp;
  t.equal(before, chain.leaf.x509.fingerprint256);
  const other = makeLeaf(chain.intermediate);
  await writeFile(s.keyFile, other.privateKeyPem);
  t.equal(await reloader.reload(), false);
  t.match(events.at(-1), { kind: 'rejected', error: { code: 'TLS_KEY_MISMATCH' } });
  await writeFile(s.certFile, other.certPem.slice(0, 300));
  t.equal(await reloader.reload(), false);
  t.match(events.at(-1), { kind: 'rejected', error: { code: 'TLS_FILES_INVALID' } });
  t.equal((await h1(s.port)).fp, before, 'old certificate still served');
  // Completing the pair and sending SIGHUP applies it.
  await writeFile(s.certFile, other.certPem + chain.intermediate.certPem);
  const applied = new Promise<ReloadEvent>((resolve) => reloader.once('reload', resolve));
  process.kill(process.pid, 'SIGHUP');
  t.match(await applied, { kind: 'reloaded', trigger: 'SIGHUP' });
  t.equal((await h1(s.port)).fp, other.x509.fingerprint256);
});

t.test('client certificates: CA kept across reloads, wrong client cert refused', async (t) => {
  const s = await setup(t, { withCa: true, requireClientCert: true });
  const ok = await h1(s.port, goodClient);
  t.match(JSON.parse(ok.body), { authorized: true, cn: 'alice' });
  await t.rejects(h1(s.port, badClient), 'same-named client CA with another key refused');
  await t.rejects(h1(s.port), 'no client certificate refused');
  const reloader = new CertReloader(s.app.server as never, {
    certFile: s.certFile,
    keyFile: s.keyFile,
    caFile: s.caFile,
    requireClientCert: true,
    signal: false,
  });
  await s.write(makeLeaf(chain.intermediate));
  t.equal(await reloader.reload(), true);
  t.match(
    JSON.parse((await h1(s.port, goodClient)).body),
    { authorized: true, cn: 'alice' },
    'client CA still trusted after reload',
  );
  await t.rejects(h1(s.port, badClient), 'still refused after reload');
  await t.rejects(h1(s.port), 'still required after reload');
});

t.test('optional client certificates leave the decision to auth', async (t) => {
  const s = await setup(t, { withCa: true, requireClientCert: false });
  t.match(JSON.parse((await h1(s.port, badClient)).body), { authorized: false });
  t.match(JSON.parse((await h1(s.port)).body), { authorized: false, cn: null });
  t.match(JSON.parse((await h1(s.port, goodClient)).body), { authorized: true, cn: 'alice' });
});
