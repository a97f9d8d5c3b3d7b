import t from 'tap';
import { HeadBucketCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { startVersitygw } from '../helpers/versitygw.js';

t.test('versitygw starts on a free port with its bucket, stops and starts again', async (t) => {
  const gw = await startVersitygw();
  t.teardown(() => gw.close());
  const listed = await gw.client.send(new ListBucketsCommand({}));
  t.ok(
    listed.Buckets?.some((b) => b.Name === gw.bucket),
    'the bucket exists',
  );
  await gw.stop();
  await t.rejects(
    gw.client.send(new HeadBucketCommand({ Bucket: gw.bucket })),
    'down when stopped',
  );
  await gw.start();
  await t.resolves(
    gw.client.send(new HeadBucketCommand({ Bucket: gw.bucket })),
    'up again, same folder',
  );
});
