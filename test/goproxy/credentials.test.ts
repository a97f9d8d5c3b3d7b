import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startTestGateway } from '../helpers/gateway.js';
import { testdir } from '../helpers/testdir.js';

/** Credentials are sent per upstream (by URL prefix), and only to that upstream. */
t.test('per-upstream credentials: basic and bearer, from config or env', async (t) => {
  const seen: Array<{ port: number; auth: string | undefined }> = [];
  const servers = await Promise.all(
    [0, 1].map(async () => {
      const s = http.createServer((req, res) => {
        seen.push({ port: (s.address() as AddressInfo).port, auth: req.headers.authorization });
        res.writeHead(404).end('not here\n');
      });
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      return s;
    }),
  );
  t.teardown(() => servers.forEach((s) => s.close()));
  const [a, b] = servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`) as [
    string,
    string,
  ];
  process.env.MODGATE_TEST_TOKEN = 'tok-from-env';
  const gw = await startTestGateway(testdir(t), {
    upstream: `${a},${b}`,
    credentials: {
      [a]: { type: 'basic', username: 'svc', password: 'pw' },
      [b]: { type: 'bearer', tokenEnv: 'MODGATE_TEST_TOKEN' },
    },
  });
  t.teardown(() => gw.close());
  t.same(
    seen.map((s) => s.auth).sort(),
    [`Basic ${Buffer.from('svc:pw').toString('base64')}`, 'Bearer tok-from-env'],
    'the start-up probe carries each upstream its own credentials',
  );
  seen.length = 0;
  const res = await request(`${gw.url}/example.com/m/@v/list`);
  t.equal(res.statusCode, 404);
  await res.body.dump();
  t.same(
    seen.map((s) => s.auth),
    [`Basic ${Buffer.from('svc:pw').toString('base64')}`, 'Bearer tok-from-env'],
  );
});
