import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import {
  certPaths,
  ensureCerts,
  initCerts,
  serverSans,
  showCerts,
  systemRootsPem,
} from '../../src/tls/certs.js';
import { buildCert } from '../../src/tls/x509-build.js';
import { startHttpsServer } from '../helpers/tls-fixtures.js';

async function tmpdir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function pemCount(s: string): number {
  return s.split('-----BEGIN CERTIFICATE-----').length - 1;
}

t.test('serverSans validates and deduplicates', async (t) => {
  t.same(serverSans(['Proxy.Corp.Example', '10.0.0.1', 'localhost', '[fd00::1]']), [
    'localhost',
    '127.0.0.1',
    '::1',
    'proxy.corp.example',
    '10.0.0.1',
    'fd00::1',
  ]);
  for (const bad of ['a b', 'x/y', '-x.example', '', 'a..b'])
    t.throws(() => serverSans([bad]), { code: 'CERTS_HOST_INVALID' }, bad);
});

t.test('initCerts writes a CA, a server cert and a bundle that work', async (t) => {
  const dir = await tmpdir(t);
  const r = await initCerts({ dir: path.join(dir, 'certs'), hosts: ['gw.example'], days: 10 });
  t.ok(r.caCreated);
  const p = certPaths(path.join(dir, 'certs'));
  t.same(
    { ...r, instructions: '', sans: [], caCreated: false },
    { ...p, instructions: '', sans: [], caCreated: false },
  );
  t.equal((await stat(p.caKeyFile)).mode & 0o777, 0o600, 'CA key 0600');
  t.equal((await stat(p.keyFile)).mode & 0o777, 0o600, 'server key 0600');
  t.same(
    (await readdir(path.join(dir, 'certs'))).sort(),
    ['bundle.pem', 'ca-key.pem', 'ca.pem', 'server-key.pem', 'server.pem'],
    'no temp files left',
  );

  const ca = new X509Certificate(await readFile(p.caFile));
  const serverPem = await readFile(p.certFile, 'utf8');
  const leaf = new X509Certificate(serverPem);
  t.ok(ca.ca);
  t.ok(leaf.verify(ca.publicKey), 'server cert signed by the CA');
  t.match(leaf.subjectAltName, /DNS:localhost/);
  t.match(leaf.subjectAltName, /IP Address:127\.0\.0\.1/);
  t.match(leaf.subjectAltName, /DNS:gw\.example/);
  t.match(leaf.subjectAltName, /IP Address:0:0:0:0:0:0:0:1/);
  t.ok(
    leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(await readFile(p.keyFile))),
  );

  const bundle = await readFile(p.bundleFile, 'utf8');
  t.ok(bundle.endsWith(await readFile(p.caFile, 'utf8')), 'CA appended');
  t.notMatch(bundle, /\r/, 'LF line endings');
  t.ok(pemCount(bundle) > 10, 'system roots included');

  // A TLS client trusting only bundle.pem accepts the server for each SAN.
  const srv = await startHttpsServer({
    certs: [serverPem],
    key: await readFile(p.keyFile, 'utf8'),
  });
  t.teardown(() => srv.close());
  for (const servername of ['localhost', 'gw.example']) {
    const authorized = await new Promise<boolean>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: srv.port, servername, ca: bundle }, () => {
        const ok = s.authorized && !tls.checkServerIdentity(servername, s.getPeerCertificate());
        s.end();
        resolve(ok);
      });
      s.on('error', reject);
    });
    t.ok(authorized, `trusted for ${servername}`);
  }
  t.match(r.instructions, `SSL_CERT_FILE=${p.bundleFile}`);
  t.match(r.instructions, /replaces the system root store/);
  t.match(r.instructions, /update-ca-certificates/);
  t.match(r.instructions, /update-ca-trust/);
  t.match(r.instructions, /security add-trusted-cert/);
  t.match(r.instructions, /certutil -addstore/);
});

t.test('a second initCerts keeps the CA and does not nest the bundle', async (t) => {
  const dir = await tmpdir(t);
  const first = await initCerts({ dir });
  const ca1 = await readFile(first.caFile, 'utf8');
  const bundle1 = await readFile(first.bundleFile, 'utf8');
  const prev = process.env.SSL_CERT_FILE;
  process.env.SSL_CERT_FILE = first.bundleFile;
  t.teardown(() =>
    prev === undefined ? delete process.env.SSL_CERT_FILE : (process.env.SSL_CERT_FILE = prev),
  );
  const second = await initCerts({ dir, hosts: ['other.example'] });
  t.notOk(second.caCreated);
  t.equal(await readFile(second.caFile, 'utf8'), ca1, 'CA unchanged');
  t.equal(
    pemCount(await readFile(second.bundleFile, 'utf8')),
    pemCount(bundle1),
    'bundle did not grow',
  );
  const leaf = new X509Certificate(await readFile(second.certFile));
  t.ok(leaf.verify(new X509Certificate(ca1).publicKey));
  const third = await initCerts({ dir, newCa: true });
  t.ok(third.caCreated);
  t.not(await readFile(third.caFile, 'utf8'), ca1);
});

t.test('systemRootsPem prefers SSL_CERT_FILE', async (t) => {
  const dir = await tmpdir(t);
  const own = buildCert({ commonName: 'Only Root', isCA: true });
  const file = path.join(dir, 'roots.pem');
  await writeFile(file, own.certPem);
  const prev = process.env.SSL_CERT_FILE;
  process.env.SSL_CERT_FILE = file;
  t.teardown(() =>
    prev === undefined ? delete process.env.SSL_CERT_FILE : (process.env.SSL_CERT_FILE = prev),
  );
  t.equal(await systemRootsPem(), own.certPem);
  t.not(await systemRootsPem(file), own.certPem, 'excluded file is skipped');
});

t.test('ensureCerts creates only when absent', async (t) => {
  const dir = await tmpdir(t);
  const a = await ensureCerts(dir);
  t.ok(a.created);
  const pem = await readFile(a.certFile, 'utf8');
  const b = await ensureCerts(dir);
  t.notOk(b.created);
  t.equal(await readFile(b.certFile, 'utf8'), pem, 'untouched');
});

t.test('showCerts reports names, dates and expiry warnings', async (t) => {
  const dir = await tmpdir(t);
  const r = await initCerts({ dir, hosts: ['gw.example'], days: 100 });
  const info = await showCerts(r.certFile);
  t.match(info.subject, /CN=gw\.example/);
  t.match(info.issuer, /CN=modgate local CA/);
  t.ok(
    info.sans.includes('localhost') &&
      info.sans.includes('gw.example') &&
      info.sans.includes('127.0.0.1'),
  );
  t.ok(info.daysLeft >= 99 && info.daysLeft <= 100, `daysLeft ${info.daysLeft}`);
  t.equal(info.warning, undefined);
  t.match(info.pin, /^sha256\//);
  const soon = await showCerts(r.certFile, Date.now() + 80 * 86_400_000);
  t.match(soon.warning, /expires in (19|20) days/);
  const late = await showCerts(r.certFile, Date.now() + 200 * 86_400_000);
  t.match(late.warning, /expired/);
  await t.rejects(showCerts(path.join(dir, 'nope.pem')), { code: 'CERT_INVALID' });
});
