import t from 'tap';
import http from 'node:http';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { testdir } from '../helpers/testdir.js';

/** A GET with the path sent byte for byte (undici and URL would resolve dot segments). */
function rawGet(base: string, rawPath: string): Promise<{ status: number; text: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: rawPath, method: 'GET', insecureHTTPParser: true },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else out.push(path.join(d, e.name));
    }
  };
  await walk(path.join(dir, 'store'));
  return out.filter((f) => !f.includes(`${path.sep}tmp${path.sep}`));
}

const HOSTILE = [
  // query versions: forwarded upstream, so nothing in them may change the URL
  '/example.com/m/@v/a%5Cb.info',
  '/example.com/m/@v/a%23b.info',
  '/example.com/m/@v/a%25b.info',
  '/example.com/m/@v/a%252e%252e.info',
  '/example.com/m/@v/a%3Fx=1.info',
  '/example.com/m/@v/a%00b.info',
  '/example.com/m/@v/a%0D%0AHost:%20evil.info',
  '/example.com/m/@v/a%7Fb.info',
  '/example.com/m/@v/...info',
  '/example.com/m/@v/..info',
  '/example.com/m/@v/a..b.info',
  '/example.com/m/@v/..%2F..%2Fx.info',
  '/example.com/m/@v/%2e%2e%2f%2e%2e%2fx.info',
  // module paths
  '/example.com/%2e%2e/m/@v/list',
  '/example.com/../m/@v/list',
  '/../example.com/m/@v/list',
  '/example.com%5Cm/@v/list',
  '/example.com/m%3F/@v/list',
  '/example.com/m%23/@v/list',
  '/example.com/m%25/@v/list',
  '/example.com/m%00/@v/list',
  '/example.com/m%3Fx/@latest',
  '/example.com/m/..%2F..%2Fx/@latest',
];

t.test('a hostile path element is 400 REQUEST_INVALID before any upstream request', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  const dir = testdir(t);
  const gw = await startTestGateway(dir, { upstream: up.url });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  up.hits.clear();
  for (const p of HOSTILE) {
    const res = await rawGet(gw.url, p);
    t.equal(res.status, 400, `${p}: ${res.text.trim()}`);
    t.match(res.text, /^REQUEST_INVALID: /, `${p}: code`);
  }
  t.same([...up.hits.keys()], [], 'the upstream saw no request');
  t.same(await files(dir), [], 'nothing cached');
  // The same gateway still forwards ordinary queries, escaped.
  const q = await rawGet(gw.url, '/example.com/m/@v/!master.info');
  t.equal(q.status, 404);
  t.equal(up.count('/example.com/m/@v/!master.info'), 1, 'query versions are !-escaped');
  const ok = await rawGet(gw.url, '/example.com/m/@v/v1.0.0.info');
  t.equal(ok.status, 200, 'the server keeps running');
});
