import t, { type Test } from 'tap';
import { ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { S3BlobStore, type S3StoreOptions } from '../../src/storage/s3.js';
import { startVersitygw, type Versitygw } from '../helpers/versitygw.js';
import { blobStoreContract, failingBody } from './contract.js';

const MiB = 1024 * 1024;
let gw: Versitygw;
let n = 0;

t.before(async () => {
  gw = await startVersitygw();
});
t.teardown(() => gw.close());

function s3Options(prefix: string): S3StoreOptions {
  return {
    bucket: gw.bucket,
    prefix,
    region: gw.region,
    endpoint: gw.endpoint,
    forcePathStyle: true,
    partSizeBytes: 5 * MiB,
    uploadConcurrency: 2,
    credentials: gw.credentials,
  };
}

function makeStore(t: Test, prefix = `c${++n}/`): S3BlobStore {
  const s = new S3BlobStore(s3Options(prefix));
  t.teardown(() => s.close());
  return s;
}

blobStoreContract(t, async () => makeStore(t), { streams: true, writerBytes: 6 * MiB });

async function openUploads(prefix: string): Promise<number> {
  const r = await gw.client.send(
    new ListMultipartUploadsCommand({ Bucket: gw.bucket, Prefix: prefix }),
  );
  return r.Uploads?.length ?? 0;
}

t.test('a failed multipart upload is aborted: no object, no parts left', async (t) => {
  const s = makeStore(t, 'mp/');
  await t.rejects(s.put('x.zip', failingBody(12 * MiB)), { code: 'STORAGE_UNAVAILABLE' });
  t.equal(await s.stat('x.zip'), null);
  t.equal(await openUploads('mp/'), 0, 'the multipart upload was aborted');
});

t.test('keys live under the prefix, and the prefix is not a way out', async (t) => {
  const s = makeStore(t, 'tenant-a/');
  await s.putBytes('k', 'v');
  await gw.client.send(new PutObjectCommand({ Bucket: gw.bucket, Key: 'tenant-b/k', Body: 'w' }));
  t.same(await s.list(''), ['k'], 'only its own prefix');
  t.equal((await s.getBytes('k'))?.toString(), 'v');
  t.throws(() => new S3BlobStore(s3Options('../')), { code: 'STORAGE_BAD_KEY' });
});

t.test('a missing bucket is STORAGE_UNAVAILABLE, not an absent blob', async (t) => {
  const s = new S3BlobStore({ ...s3Options(''), bucket: 'no-such-bucket' });
  t.teardown(() => s.close());
  await t.rejects(s.getBytes('k'), { code: 'STORAGE_UNAVAILABLE', details: { engine: 's3' } });
  await t.rejects(s.check(), { code: 'STORAGE_UNAVAILABLE' });
});

t.test('a stopped server fails every call with STORAGE_UNAVAILABLE; back when it is', async (t) => {
  const s = makeStore(t, 'down/');
  await s.putBytes('k', 'v');
  await gw.stop();
  try {
    await t.rejects(s.stat('k'), { code: 'STORAGE_UNAVAILABLE' });
    await t.rejects(s.getBytes('k'), { code: 'STORAGE_UNAVAILABLE' });
    await t.rejects(s.putBytes('k2', 'v'), { code: 'STORAGE_UNAVAILABLE' });
    await t.rejects(s.check(), { code: 'STORAGE_UNAVAILABLE' });
  } finally {
    await gw.start();
  }
  t.equal((await s.getBytes('k'))?.toString(), 'v');
  t.equal(await s.stat('k2'), null, 'nothing was written while it was down');
});
