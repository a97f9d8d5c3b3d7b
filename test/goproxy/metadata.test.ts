import t from 'tap';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { checkInfo, cleanList, isRfc3339 } from '../../src/goproxy/metadata.js';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { testdir } from '../helpers/testdir.js';

t.test('list bodies keep canonical versions only, one per line', async (t) => {
  t.equal(
    cleanList(
      [
        'v1.0.0',
        'v1.1.0 2024-01-01T00:00:00Z extra fields',
        'junk',
        'v1.2',
        '1.3.0',
        'v2.0.0+incompatible',
        'v1.0.0',
        '<script>alert(1)</script>',
        '\u0000v9.9.9',
        '  v1.4.0-rc.1  ',
        '',
      ].join('\n'),
    ),
    'v1.0.0\nv1.1.0\nv2.0.0+incompatible\nv1.4.0-rc.1\n',
  );
  t.equal(cleanList('nothing here\n'), '');
});

t.test('latest and query answers must be .info JSON with a canonical version', async (t) => {
  t.equal(
    checkInfo('{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z","Evil":"x"}', 'm latest', 'u'),
    '{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}',
    'only Version and Time pass on',
  );
  t.equal(checkInfo('{"Version":"v1.0.0"}', 'm latest', 'u'), '{"Version":"v1.0.0"}');
  for (const body of [
    'not json',
    '[]',
    'null',
    '{"Version":"v1.0"}',
    '{"Version":"1.0.0"}',
    '{"Version":"v1.0.0+build"}',
    '{"Version":42}',
    '{}',
    '{"Version":"v1.0.0","Time":"yesterday"}',
    '{"Version":"v1.0.0","Time":"2024-13-01T00:00:00Z"}',
    '{"Version":"v1.0.0","Time":"2024-02-30T00:00:00Z"}',
    '{"Version":"v1.0.0","Time":17}',
  ])
    t.throws(
      () => checkInfo(body, 'm latest', 'http://u'),
      { code: 'UPSTREAM_BAD_RESPONSE' },
      body,
    );
  t.ok(isRfc3339('2024-02-29T23:59:59.123456789+05:30'));
  t.notOk(isRfc3339('2023-02-29T00:00:00Z'));
  t.notOk(isRfc3339('2024-01-01 00:00:00Z'));
});

async function storeFiles(dir: string): Promise<string[]> {
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

t.test('through a gateway: junk list lines are dropped, a bad latest is refused', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  const dir = testdir(t);
  const gw = await startTestGateway(dir, { upstream: up.url });
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  up.misbehave('/@v/list', {
    kind: 'replace',
    body: Buffer.from('v1.0.0\nnot-a-version\nv1.0\n\u001b[31mred\nv1.0.0 trailing\n'),
  });
  const list = await request(`${gw.url}/example.com/m/@v/list`);
  t.equal(list.statusCode, 200);
  t.equal(await list.body.text(), 'v1.0.0\n');

  up.misbehave('/@latest', { kind: 'replace', body: Buffer.from('{"Version":"v1.0"}') });
  const before = await storeFiles(dir);
  const latest = await request(`${gw.url}/example.com/m/@latest`);
  t.equal(latest.statusCode, 502);
  t.match(
    await latest.body.text(),
    /^UPSTREAM_BAD_RESPONSE: upstream http:\/\/127\.0\.0\.1:\d+ sent a bad example\.com\/m latest: Version "v1\.0" is not a canonical version/,
  );
  t.same(await storeFiles(dir), before, 'nothing cached');
  t.equal(up.count('/example.com/m/@latest'), 1);

  up.misbehave('/@v/master.info', {
    kind: 'replace',
    body: Buffer.from('{"Version":"v1.0.0","Time":"not a time"}'),
  });
  const query = await request(`${gw.url}/example.com/m/@v/master.info`);
  t.equal(query.statusCode, 502);
  t.match(
    await query.body.text(),
    /UPSTREAM_BAD_RESPONSE: .*Time "not a time" is not an RFC 3339 time/,
  );
  t.same(await storeFiles(dir), before, 'nothing cached');
});

t.test('a caller that goes away aborts the shared fetch it alone waited for', async (t) => {
  const { MetadataService } = await import('../../src/goproxy/metadata.js');
  const { UpstreamClient } = await import('../../src/upstream/client.js');
  const { Router } = await import('../../src/goproxy/router.js');
  const { FsBlobStore } = await import('../../src/storage/fs.js');
  const http = await import('node:http');
  let closed!: () => void;
  const socketClosed = new Promise<void>((r) => (closed = r));
  let arrived!: () => void;
  const requestArrived = new Promise<void>((r) => (arrived = r));
  const srv = http.createServer((req) => {
    arrived();
    req.socket.once('close', closed);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  const client = new UpstreamClient({
    headersTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
    retries: 0,
    retryBaseMs: 1,
  });
  const dir = testdir(t);
  const meta = new MetadataService({
    store: new FsBlobStore(path.join(dir, 'store')),
    client,
    router: new Router({
      publicUpstream: url,
      routes: [],
      privatePatterns: '',
      noSumdbPatterns: '',
    }),
    ttlSeconds: { list: 60, query: 60 },
    maxBytes: { list: 1 << 20, info: 1 << 16 },
  });
  t.teardown(async () => {
    await meta.close();
    await client.close();
  });
  const ctl = new AbortController();
  const pending = meta.get({ kind: 'list', module: 'example.com/m' }, ctl.signal);
  await requestArrived;
  ctl.abort(new Error('client went away'));
  await t.rejects(pending, { message: 'client went away' });
  await socketClosed;
  t.pass('the upstream saw its socket close');
  t.same(await storeFiles(dir), [], 'nothing cached');
});
