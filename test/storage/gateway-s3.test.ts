import t from 'tap';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { makeModule, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { recordingAudit } from '../helpers/recording-audit.js';
import { startVersitygw } from '../helpers/versitygw.js';
import { S3BlobStore } from '../../src/storage/s3.js';
import { testdir } from '../helpers/testdir.js';

t.test('two gateways on one S3 bucket; S3 down fails cold fetches closed', async (t) => {
  const s3 = await startVersitygw();
  t.teardown(() => s3.close());
  // The standard AWS chain: the environment, as a deployment would set it.
  process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  const hot = await makeModule('example.com/hot', 'v1.0.0', {
    'a.txt': randomBytes(300_000).toString('base64'),
  });
  const cold = await makeModule('example.com/cold', 'v1.0.0', { 'b.txt': 'cold\n' });
  const up = await startFakeUpstream([hot, cold]);
  t.teardown(() => up.close());
  const storage = {
    kind: 's3',
    s3: {
      bucket: s3.bucket,
      prefix: 'gw/',
      region: s3.region,
      endpoint: s3.endpoint,
      forcePathStyle: true,
    },
  };
  const audit = recordingAudit();
  const raw = { upstream: up.url, storage, cache: { memoryMaxItemBytes: 0 } };
  const dirA = testdir(t);
  const a = await startTestGateway(dirA, raw, { audit });
  t.teardown(() => a.close());
  const HOT = '/example.com/hot/@v/v1.0.0.zip';
  const COLD = '/example.com/cold/@v/v1.0.0.zip';

  const first = await request(a.url + HOT);
  t.equal(first.statusCode, 200);
  t.ok(Buffer.from(await first.body.arrayBuffer()).equals(hot.zip), 'verified bytes from S3');
  const direct = new S3BlobStore({ ...storage.s3, partSizeBytes: 5 << 20, uploadConcurrency: 1 });
  t.teardown(() => direct.close());
  const keys = await direct.list('');
  t.ok(keys.includes('cache/example.com/hot/@v/v1.0.0.zip'), 'the artifact is in the bucket');
  t.ok(keys.includes('cache/example.com/hot/@v/v1.0.0.zip.evidence.json'), 'with its evidence');
  t.same(
    keys.filter((k) => !/^(cache|meta|tofu)\/|^\.readyz$/.test(k)),
    [],
    'no temp or spool object in the bucket',
  );

  // A second replica with its own disk finds the verified artifact in S3.
  // Replicas share the state key that seals evidence (a Secret in a deployment).
  const dirB = `${dirA}-b`;
  await rm(dirB, { recursive: true, force: true });
  t.teardown(() => rm(dirB, { recursive: true, force: true }));
  await mkdir(path.join(dirB, 'keys'), { recursive: true });
  await copyFile(path.join(dirA, 'keys', 'state.key'), path.join(dirB, 'keys', 'state.key'));
  const b = await startTestGateway(dirB, raw);
  t.teardown(() => b.close());
  const fromB = await request(b.url + HOT);
  t.equal(fromB.statusCode, 200);
  t.ok(Buffer.from(await fromB.body.arrayBuffer()).equals(hot.zip));
  t.equal(fromB.headers['x-modgate-cache'], 'hit');
  t.equal(up.count(HOT), 1, 'one upstream fetch for both replicas');

  // The hot zip's local copy is written in the background: it is on disk before S3 goes away.
  await a.settled();
  await s3.stop();
  const res = await request(a.url + COLD);
  t.equal(res.statusCode, 503, 'a cold fetch fails closed');
  t.match(await res.body.text(), /^STORAGE_UNAVAILABLE: s3 storage error/);
  t.equal(up.count(COLD), 0, 'nothing was fetched that could not be stored');
  t.ok(
    audit.decisions.some(
      (d) => d.module === 'example.com/cold' && d.codes.includes('STORAGE_UNAVAILABLE'),
    ),
    'the refusal is in the audit trail',
  );
  const ready = await request(`${a.url}/readyz`);
  t.equal(ready.statusCode, 503);
  const body = (await ready.body.json()) as { checks: { storage: string } };
  t.match(body.checks.storage, /^s3 is down: /, '/readyz names the engine that is down');
  const hit = await request(a.url + HOT);
  t.equal(hit.statusCode, 200, 'a hot hit is still served from the local cache');
  t.ok(Buffer.from(await hit.body.arrayBuffer()).equals(hot.zip));

  await s3.start();
  t.same(await direct.list('cache/example.com/cold/'), [], 'nothing half-written in the bucket');
  const uploads = await s3.client.send(
    new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: 'gw/' }),
  );
  t.equal(uploads.Uploads?.length ?? 0, 0, 'no multipart upload left open');
  const again = await request(a.url + COLD);
  t.equal(again.statusCode, 200, 'served once S3 is back');
  t.ok(Buffer.from(await again.body.arrayBuffer()).equals(cold.zip));
  t.equal((await request(`${a.url}/readyz`)).statusCode, 200);
});
