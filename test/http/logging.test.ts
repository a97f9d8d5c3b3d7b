import t from 'tap';
import { Writable } from 'node:stream';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { testdir } from '../helpers/testdir.js';

/** A log destination that keeps every line (pino writes one JSON object per write). */
function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

t.test('one log line per request with its facts; one start line, after listen', async (t) => {
  const up = await startFakeUpstream([await makeModule('example.com/m', 'v1.0.0')]);
  const log = capture();
  const gw = await startTestGateway(
    testdir(t),
    { upstream: up.url, log: { level: 'info' } },
    { logger: undefined, logStream: log.stream },
  );
  t.teardown(async () => {
    await gw.close();
    await up.close();
  });
  await gw.probed;
  const starts = log.lines().filter((l) => /listening|serving on/i.test(String(l.msg)));
  t.equal(starts.length, 1, 'one start line');
  t.match(starts[0], { msg: new RegExp(`^modgate serving on ${gw.url};`), url: gw.url });
  t.notOk(
    log.lines().some((l) => String(l.msg).startsWith('Server listening')),
    "fastify's own line is gone",
  );

  const asks = [
    '/example.com/m/@v/v1.0.0.zip',
    '/example.com/m/@v/v1.0.0.zip',
    '/example.com/m/@v/list',
    '/example.com/gone/@v/v1.0.0.mod',
    '/bad',
  ];
  const ids: string[] = [];
  for (const a of asks) ids.push(String((await gw.app.inject({ url: a })).headers['x-request-id']));
  const requests = log.lines().filter((l) => l.msg === 'request');
  t.equal(requests.length, asks.length, 'exactly one line per request');
  t.same(
    requests.map((l) => l.reqId),
    ids,
    'each line carries its request id',
  );
  t.equal(
    log.lines().filter((l) => l.msg !== 'request' && ids.includes(String(l.reqId))).length,
    0,
    'no other per-request line (no fastify incoming/completed pair)',
  );
  t.match(requests[0], {
    method: 'GET',
    kind: 'zip',
    module: 'example.com/m',
    version: 'v1.0.0',
    status: 200,
    cache: 'miss',
    bytes: Number,
    upstreamMs: Number,
    ms: Number,
    client: 'anonymous',
  });
  t.ok((requests[0]!.bytes as number) > 0);
  t.ok((requests[0]!.upstreamMs as number) > 0, 'upstream time is attributed to the request');
  t.match(requests[1], { kind: 'zip', cache: 'hit', upstreamMs: 0 });
  t.match(requests[2], { kind: 'list', status: 200 });
  t.match(requests[3], { kind: 'mod', status: 404, code: 'UPSTREAM_NOT_FOUND' });
  t.match(requests[4], { kind: 'unknown', status: 400, code: 'REQUEST_INVALID', path: '/bad' });
});
