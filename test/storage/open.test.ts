import t from 'tap';
import path from 'node:path';
import { validateConfig } from '../../src/config/load.js';
import { CachedBlobStore } from '../../src/storage/cached.js';
import { FsBlobStore } from '../../src/storage/fs.js';
import { openBlobStore } from '../../src/storage/open.js';
import { S3BlobStore } from '../../src/storage/s3.js';
import { testdir } from '../helpers/testdir.js';

t.test('engine "s3" without a bucket, or with bad settings, is refused', async (t) => {
  await t.rejects(openBlobStore(validateConfig({ storage: { kind: 's3' } })), {
    code: 'CONFIG_INVALID',
    message: /storage\.s3\.bucket is required/,
  });
  t.throws(() => validateConfig({ storage: { engine: 'gcs' } }), { code: 'CONFIG_INVALID' });
  t.throws(
    () => validateConfig({ storage: { kind: 's3', s3: { bucket: 'b', prefix: '../x/' } } }),
    { code: 'CONFIG_INVALID' },
    'a prefix that climbs out is refused',
  );
  t.throws(
    () => validateConfig({ storage: { s3: { bucket: 'b', accessKeyId: 'AKIA' } } }),
    { code: 'CONFIG_INVALID' },
    'credentials have no place in the config',
  );
});

t.test('the default is fs under <dataDir>/store', async (t) => {
  const dir = testdir(t);
  const config = validateConfig({ dataDir: dir });
  const { store, location } = await openBlobStore(config);
  t.ok(store instanceof FsBlobStore);
  t.equal(store.engine, 'fs');
  t.equal(location, path.join(dir, 'store'));
});

t.test('engine "s3" puts the disk cache in front, unless its budget is 0', async (t) => {
  const dir = testdir(t);
  const s3 = {
    bucket: 'b',
    prefix: 'modgate/',
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
  };
  const cached = await openBlobStore(validateConfig({ dataDir: dir, storage: { kind: 's3', s3 } }));
  t.teardown(() => cached.store.close?.());
  t.ok(cached.store instanceof CachedBlobStore);
  t.equal(cached.store.engine, 's3');
  t.equal(cached.location, 's3://b/modgate/');
  const bare = await openBlobStore(
    validateConfig({ dataDir: dir, storage: { kind: 's3', s3, diskCache: { maxBytes: 0 } } }),
  );
  t.teardown(() => bare.store.close?.());
  t.ok(bare.store instanceof S3BlobStore);
});
