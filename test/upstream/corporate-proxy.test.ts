import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import { validateConfig } from '../../src/config/load.js';
import { startGateway, type Gateway } from '../../src/main.js';
import { spkiPin } from '../../src/tls/pins.js';
import { modgate } from '../helpers/cli.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startMitmProxy } from '../helpers/mitm-proxy.js';
import { makeChain } from '../helpers/tls-fixtures.js';
import { testdir } from '../helpers/testdir.js';

/** Behind a TLS-inspecting egress proxy: the refusal explains itself, /readyz says not ready, and pinning the proxy's CA fixes it. */

const real = makeChain('Public Root CA');

function logSink(): { lines: string[]; logger: pino.Logger } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

async function gateway(
  t: Test,
  dataDir: string,
  upstream: string,
  pins: string[],
  caFile: string | undefined,
): Promise<{ gw: Gateway; lines: string[] }> {
  const { lines, logger } = logSink();
  const config = validateConfig({
    listen: '127.0.0.1:0',
    dataDir,
    tls: { insecureHttp: true },
    sumdb: 'off',
    upstream,
    pins: { '127.0.0.1': pins },
    ...(caFile ? { extraCaFile: caFile } : {}),
    http: { retries: 0 },
  });
  const gw = await startGateway(config, { logger });
  t.teardown(() => gw.close());
  await gw.probed;
  return { gw, lines };
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, text: await res.body.text() };
}

t.test('behind a TLS-inspecting proxy', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')], {
    tls: { cert: real.leaf.certPem + real.intermediate.certPem, key: real.leaf.privateKeyPem },
  });
  t.teardown(() => up.close());
  const proxy = await startMitmProxy({ upstreamCa: [real.root.certPem] });
  t.teardown(() => proxy.close());
  const saved = { https: process.env.HTTPS_PROXY, no: process.env.NO_PROXY };
  process.env.HTTPS_PROXY = proxy.url;
  delete process.env.NO_PROXY;
  t.teardown(() => {
    if (saved.https === undefined) delete process.env.HTTPS_PROXY;
    else process.env.HTTPS_PROXY = saved.https;
    if (saved.no !== undefined) process.env.NO_PROXY = saved.no;
  });
  const dir = testdir(t);
  // Before IT's CA is installed, TLS itself fails, and the text says what to do.
  const untrusted = await gateway(
    t,
    path.join(dir, 'c'),
    up.url,
    [spkiPin(real.root.x509)],
    undefined,
  );
  const fails = await get(`${untrusted.gw.url}/example.com/m/@v/list`);
  t.equal(fails.status, 502);
  t.match(
    fails.text,
    /^UPSTREAM_UNAVAILABLE: upstream https:\/\/127\.0\.0\.1:\d+: .*\(SELF_SIGNED_CERT_IN_CHAIN\)\nthe chain is not trusted: behind a TLS-inspecting proxy, put its CA in extraCaFile and pin it/,
  );
  await untrusted.gw.close();
  // IT installed the interception CA (extraCaFile), so TLS verifies but the upstream's real pin cannot match.
  const caFile = path.join(dir, 'corp-ca.pem');
  await writeFile(caFile, proxy.ca.certPem);
  const corpPin = spkiPin(proxy.ca.x509);
  const hostPort = new URL(up.url).host;

  const before = await gateway(t, path.join(dir, 'a'), up.url, [spkiPin(real.root.x509)], caFile);
  const summary = before.lines.find((l) => l.includes('modgate serving on'));
  t.ok(summary, 'one start-up summary line');
  t.match(
    JSON.parse(summary!).msg,
    new RegExp(
      `^modgate serving on http://127\\.0\\.0\\.1:\\d+; upstreams: https://${hostPort.replace('.', '\\.')} UPSTREAM_PIN_MISMATCH \\(pin mismatch\\); checksum database: off .*; policy: .*; storage: .*NOT READY`,
    ),
  );
  const refused = await get(`${before.gw.url}/example.com/m/@v/list`);
  t.equal(refused.status, 502);
  const lines = refused.text.trimEnd().split('\n');
  t.ok(lines.length <= 8 && Buffer.byteLength(refused.text) <= 648, 'the go command shows it all');
  t.match(lines[0], /^UPSTREAM_PIN_MISMATCH: TLS key pin mismatch for 127\.0\.0\.1/);
  t.equal(
    lines[1],
    `seen: ${spkiPin(proxy.leaf.x509)} (leaf), ${corpPin} (CA)`,
    'names the pins seen, the CA last',
  );
  t.match(refused.text, `modgate pins https://${hostPort}`);
  t.match(refused.text, 'pins."127.0.0.1"');
  t.match(refused.text, 'docs/pins.md');
  t.equal(up.count('/example.com/m/@v/list'), 0, 'nothing reached the upstream');
  const notReady = await get(`${before.gw.url}/readyz`);
  t.equal(notReady.status, 503);
  t.match(JSON.parse(notReady.text), {
    ok: false,
    checks: { upstreams: /^every upstream fails: .*UPSTREAM_PIN_MISMATCH \(pin mismatch\)/ },
  });

  // `modgate pins` through the proxy shows the interception chain and marks its CA.
  const pins = await modgate(['pins', up.url, '--ca', caFile], {
    env: { HTTPS_PROXY: proxy.url, NO_PROXY: '' },
  });
  t.equal(pins.code, 0, pins.stderr);
  t.match(
    pins.stdout,
    `${corpPin}  CN=Corp TLS Inspection CA, O=modgate tests  <- CA: pin this one`,
  );
  t.match(pins.stdout, 'chain: trusted by the system roots plus --ca');
  t.match(pins.stdout, `to pin: pins: { "127.0.0.1": ["${corpPin}"] }`);
  await before.gw.close();

  // The fix from docs/pins.md: pin the proxy's CA for the upstream host.
  const after = await gateway(t, path.join(dir, 'b'), up.url, [corpPin], caFile);
  t.match(
    JSON.parse(after.lines.find((l) => l.includes('modgate serving on'))!).msg,
    /\(pins matched\)/,
  );
  const list = await get(`${after.gw.url}/example.com/m/@v/list`);
  t.equal(list.status, 200, list.text);
  t.equal(list.text, 'v1.0.0\n');
  t.equal(up.count('/example.com/m/@v/list'), 1);
  t.ok(proxy.forwarded >= 2, 'the answers came through the proxy');
  const ready = await get(`${after.gw.url}/readyz`);
  t.equal(ready.status, 200, ready.text);
});
