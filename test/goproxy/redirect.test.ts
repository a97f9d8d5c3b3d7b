import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { startTestGateway } from '../helpers/gateway.js';
import { testdir } from '../helpers/testdir.js';

/** Through a gateway: an upstream redirect is refused (502 UPSTREAM_REDIRECT), the target sees nothing, nothing is cached. */
t.test('an upstream redirect to another origin is refused by default', async (t) => {
  const targetSeen: Array<string | undefined> = [];
  const target = http.createServer((req, res) => {
    targetSeen.push(req.headers.authorization);
    res.writeHead(200).end('v9.9.9\n');
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  const up = http.createServer((req, res) =>
    res.writeHead(302, { location: `${targetUrl}${req.url}` }).end(),
  );
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const upUrl = `http://127.0.0.1:${(up.address() as AddressInfo).port}`;
  const dir = testdir(t);
  const gw = await startTestGateway(dir, {
    upstream: upUrl,
    credentials: { [upUrl]: { type: 'bearer', token: 'secret' } },
  });
  t.teardown(async () => {
    await gw.close();
    up.close();
    target.close();
  });
  const res = await request(`${gw.url}/example.com/m/@v/list`);
  t.equal(res.statusCode, 502);
  t.match(
    await res.body.text(),
    /^UPSTREAM_REDIRECT: upstream http:\/\/127\.0\.0\.1:\d+ redirected .* refused, redirects are not followed/,
  );
  t.same(targetSeen, [], 'the redirect target saw nothing');
  const files: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else files.push(path.join(d, e.name));
    }
  };
  await walk(path.join(dir, 'store', 'meta'));
  t.same(files, [], 'nothing cached');
});
