import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { writeBigModule } from '../bigzip.js';
import { spawnGateway, startFileUpstream } from '../lib.js';
import type { Result } from '../report.js';

const MiB = 1024 * 1024;

/** Peak RSS of the gateway while it fetches, verifies and serves a 490 MiB zip through a cold cache. */
export async function rssBigZip(sizeMiB = 490): Promise<Result[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-bench-rss-'));
  try {
    await writeBigModule(path.join(dir, 'up'), 'example.com/big', 'v1.0.0', sizeMiB * MiB);
    const up = await startFileUpstream(path.join(dir, 'up'));
    const gw = await spawnGateway(
      [
        '--insecure-http',
        '--allow-http-upstream',
        '--upstream',
        up.url,
        '--sumdb',
        'off',
        '--data',
        path.join(dir, 'data'),
      ],
      {
        MODGATE_PINNING: 'optional',
        MODGATE_AUDIT__ENABLED: 'false',
      },
    );
    try {
      const started = performance.now();
      const res = await request(`${gw.url}/example.com/big/@v/v1.0.0.zip`, {
        bodyTimeout: 600_000,
        headersTimeout: 600_000,
      });
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
      const seconds = (performance.now() - started) / 1000;
      const peak = gw.peakRss();
      return [
        {
          id: 'rss.peak',
          label: `peak RSS serving a ${sizeMiB} MiB zip (cold)`,
          value: peak / MiB,
          unit: 'MiB',
          target: 200,
          better: 'lower',
          note: `status ${res.statusCode}, ${(bytes / MiB).toFixed(0)} MiB in ${seconds.toFixed(1)} s`,
        },
      ];
    } finally {
      await gw.stop();
      await up.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
