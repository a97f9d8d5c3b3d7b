import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { UpstreamClient } from '../../src/upstream/client.js';
import { SumdbTransport } from '../../src/upstream/sumdb-transport.js';

/** A checksum-database failure names the status and the upstream, not "unreachable". */
t.test('an upstream 400 is named as such, with the upstream and without credentials', async (t) => {
  const srv = http.createServer((req, res) => {
    if (req.url?.endsWith('/supported')) return void res.writeHead(200).end();
    res.writeHead(400).end('bad lookup\n');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const dispatcher = new Agent();
  const client = new UpstreamClient({
    dispatcher,
    headersTimeoutMs: 2000,
    bodyTimeoutMs: 2000,
    retries: 0,
    retryBaseMs: 1,
  });
  t.teardown(async () => {
    await client.close();
    await dispatcher.close();
  });
  const transport = new SumdbTransport({
    name: 'sum.example',
    client,
    chain: [{ url: url.replace('http://', 'http://svc:hunter2@'), fallBackOnError: false }],
  });
  const err = await transport.get('/lookup/example.com/m@v1.0.0').catch((e: Error) => e);
  t.match(err, {
    code: 'SUMDB_UNAVAILABLE',
    message: `checksum database sum.example: UPSTREAM_BAD_STATUS: upstream ${url}/sumdb/sum.example answered 400 for /lookup/example.com/m@v1.0.0: bad lookup`,
    details: { status: 400, upstreamCode: 'UPSTREAM_BAD_STATUS' },
  });
  t.notMatch((err as Error).message, /unreachable|hunter2/);
});
