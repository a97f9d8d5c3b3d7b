import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request, Agent } from 'undici';
import { readFile } from 'node:fs/promises';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { createFakeSumdb } from '../helpers/fake-sumdb.js';
import { makeChain, makeRoot } from '../helpers/tls-fixtures.js';
import { startTestGateway } from '../helpers/gateway.js';
import { goEnv, runGo } from '../helpers/gocmd.js';
import { initCerts } from '../../src/tls/certs.js';
import { spkiPin } from '../../src/tls/pins.js';
import { hashToken } from '../../src/auth/tokens.js';
import { hashGoMod } from '../../src/integrity/dirhash.js';
import { hashZipFile } from '../../src/integrity/zip.js';
import { testdir } from '../helpers/testdir.js';

/**
 * go talks HTTPS to modgate (trusting it through the SSL_CERT_FILE bundle) and
 * authenticates with a token from .netrc; modgate talks to a pinned HTTPS
 * upstream that also proxies the checksum database.
 */
t.test('go over HTTPS with .netrc token auth; pinned TLS upstream with its sumdb', async (t) => {
  const dir = testdir(t);
  const mod = await makeModule('example.com/tls', 'v1.0.0', { 'tls.go': 'package tls\n' });
  const zipFile = path.join(dir, 'm.zip');
  await writeFile(zipFile, mod.zip);
  const db = await createFakeSumdb({
    records: [
      {
        path: mod.path,
        version: mod.version,
        h1: await hashZipFile(zipFile),
        modH1: hashGoMod(mod.mod),
      },
    ],
  });
  const chain = makeChain('Upstream Root');
  const up = await startFakeUpstream([mod], {
    tls: { cert: chain.leaf.certPem + chain.intermediate.certPem, key: chain.leaf.privateKeyPem },
    sumdb: db,
  });
  const caFile = path.join(dir, 'upstream-ca.pem');
  await writeFile(caFile, chain.root.certPem);
  const certs = await initCerts({ dir: path.join(dir, 'certs') });
  const token = 'mgt_e2e-token-0123456789abcdefghijklmnopqrstuvwxyz';
  const base = {
    upstream: up.url,
    sumdb: db.verifierKey,
    extraCaFile: caFile,
    allowHttpUpstream: false,
    pinning: 'required',
    tls: { insecureHttp: false, certFile: certs.certFile, keyFile: certs.keyFile },
    auth: {
      required: true,
      tokens: [{ id: 'ci-bot', sha256: hashToken(token), groups: ['builders'] }],
    },
  };
  const gw = await startTestGateway(path.join(dir, 'data'), {
    ...base,
    pins: { '127.0.0.1': [spkiPin(chain.root.certPem)] },
  });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  t.match(gw.url, /^https:/);

  const env = await goEnv(dir, {
    GOPROXY: gw.url,
    GOSUMDB: db.verifierKey,
    SSL_CERT_FILE: certs.bundleFile,
    NETRC: path.join(dir, 'netrc'),
  });
  const host = new URL(gw.url).host;
  await writeFile(path.join(dir, 'netrc'), `machine ${host} login ci-bot password ${token}\n`);
  const ok = await runGo(['mod', 'download', '-json', 'example.com/tls@v1.0.0'], { cwd: dir, env });
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.match(ok.stdout, /"Sum": "h1:/);

  await writeFile(path.join(dir, 'netrc'), `machine ${host} login ci-bot password wrong-token\n`);
  const env2 = await goEnv(path.join(dir, 'second'), {
    GOPROXY: gw.url,
    GOSUMDB: db.verifierKey,
    SSL_CERT_FILE: certs.bundleFile,
    NETRC: path.join(dir, 'netrc'),
  });
  const denied = await runGo(['mod', 'download', '-json', 'example.com/tls@v1.0.0'], {
    cwd: dir,
    env: env2,
  });
  t.not(denied.code, 0);
  t.match(denied.stdout + denied.stderr, /401 Unauthorized/);

  // A wrong pin blocks the upstream: 502 with the pin error, nothing served.
  const wrongPin = await startTestGateway(path.join(dir, 'data2'), {
    ...base,
    pins: { '127.0.0.1': [spkiPin(makeRoot('Other').certPem)] },
  });
  t.teardown(() => wrongPin.close());
  const dispatcher = new Agent({ connect: { ca: await readFile(certs.caFile, 'utf8') } });
  const res = await request(`${wrongPin.url}/example.com/tls/@v/v1.0.0.mod`, {
    dispatcher,
    headers: { authorization: `Bearer ${token}` },
  });
  t.equal(res.statusCode, 502);
  t.match(await res.body.text(), /UPSTREAM_PIN_MISMATCH/);
  // With auth.required, metrics need a token too.
  const anonymous = await request(`${wrongPin.url}/metrics`, { dispatcher });
  t.equal(anonymous.statusCode, 401);
  await anonymous.body.dump();
  const metrics = await request(`${wrongPin.url}/metrics`, {
    dispatcher,
    headers: { authorization: `Bearer ${token}` },
  });
  t.match(await metrics.body.text(), /modgate_security_events_total\{event="PIN_MISMATCH"\} [1-9]/);
  await dispatcher.close();
});
