import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { workerConfig, workerCount, workerReplicaId } from '../../src/workers/config.js';

const load = (flags: Record<string, unknown> = {}) =>
  loadConfig({ env: { GOPROXY: 'off' }, goEnv: async () => '', flags });

t.test('server.workers: 0 is one per core when there are several, else one process', async (t) => {
  const auto = await load();
  t.equal(auto.server.workers, 0, 'auto is the default');
  t.equal(workerCount(auto, 8), 8);
  t.equal(workerCount(auto, 2), 2);
  t.equal(workerCount(auto, 1), 1, 'one core: a single process');
  t.equal(workerCount(await load({ 'server.workers': 1 }), 8), 1, '1 is one process');
  t.equal(workerCount(await load({ 'server.workers': 3 }), 1), 3, 'an explicit count wins');
  await t.rejects(load({ 'server.workers': -1 }), { code: 'CONFIG_INVALID' });
  await t.rejects(load({ 'server.workers': 1.5 }), { code: 'CONFIG_INVALID' });
});

t.test("each worker's config: its own replica id, audit chain and disk-cache share", async (t) => {
  const c = await load({ dataDir: '/srv/mg', 'cluster.replicaId': 'gw-1' });
  const w2 = workerConfig(c, 2, 4);
  t.equal(workerReplicaId(c, 2), 'gw-1-w2');
  t.equal(w2.cluster.replicaId, 'gw-1-w2', 'lease holders and pg audit chains are per process');
  t.equal(w2.audit.dir, path.join('/srv/mg', 'audit', 'chains', 'gw-1-w2'));
  t.equal(c.cluster.replicaId, 'gw-1', "the primary's config is left alone");
  t.equal(w2.dataDir, c.dataDir, 'the stores are shared');
  const s3 = await load({
    dataDir: '/srv/mg',
    'storage.kind': 's3',
    'storage.s3.bucket': 'b',
    'storage.diskCache.maxBytes': 1000,
  });
  const w3 = workerConfig(s3, 3, 4);
  t.equal(w3.storage.diskCache.dir, path.join('/srv/mg', 's3-cache', 'w3'));
  t.equal(w3.storage.diskCache.maxBytes, 250, 'a quarter of the budget each');
  const pg = workerConfig(
    await load({ 'audit.store': 'postgres', 'cluster.replicaId': 'r' }),
    1,
    2,
  );
  t.equal(pg.audit.dir, undefined, 'a postgres trail keeps no folder per worker');
});
