import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createFakeSumdb } from '../src/demo/sumdb.js';
import {
  makeModule,
  startFakeUpstream,
  sumdbRecords,
  type FakeModule,
  type FakeUpstream,
} from '../src/demo/upstream.js';
import { initCerts } from '../src/tls/certs.js';
import { spawnGateway, type Child } from './lib.js';

export interface BenchEnv {
  dir: string;
  upstream: FakeUpstream;
  sumdbKey: string;
  certFile: string;
  keyFile: string;
  modules: FakeModule[];
  gateway(name: string, extraEnv?: Record<string, string>, extraArgs?: string[]): Promise<Child>;
  close(): Promise<void>;
}

/** A fake upstream (with its checksum database) holding `count` modules with a zip of `zipBytes` each. */
export async function benchEnv(count = 1, zipBytes = 1 << 20): Promise<BenchEnv> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-bench-'));
  const modules: FakeModule[] = [];
  for (let i = 0; i < count; i++) {
    const m = await makeModule(`example.com/bench${i}`, 'v1.0.0', {
      'blob.bin': randomBytes(zipBytes),
    });
    modules.push(m);
  }
  const db = await createFakeSumdb({
    name: 'bench.sumdb.localhost',
    records: await sumdbRecords(modules, dir),
  });
  const upstream = await startFakeUpstream(modules, { sumdb: db });
  const certs = await initCerts({ dir: path.join(dir, 'certs') });
  const children: Child[] = [];
  return {
    dir,
    upstream,
    sumdbKey: db.verifierKey,
    certFile: certs.certFile,
    keyFile: certs.keyFile,
    modules,
    async gateway(name, extraEnv = {}, extraArgs = []) {
      const gw = await spawnGateway(
        [
          '--allow-http-upstream',
          '--upstream',
          upstream.url,
          '--sumdb',
          db.verifierKey,
          '--data',
          path.join(dir, name),
          '--tls-cert',
          certs.certFile,
          '--tls-key',
          certs.keyFile,
          ...extraArgs,
        ],
        { MODGATE_PINNING: 'optional', MODGATE_LOG__LEVEL: 'warn', ...extraEnv },
      );
      children.push(gw);
      return gw;
    },
    async close() {
      await Promise.all(children.map((c) => c.stop()));
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
