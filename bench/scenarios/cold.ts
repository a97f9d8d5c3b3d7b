import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { startFakeSumdb } from '../../src/demo/sumdb.js';
import { hashGoMod } from '../../src/integrity/dirhash.js';
import { hashZipFile, verifyModuleZip } from '../../src/integrity/zip.js';
import { initCerts } from '../../src/tls/certs.js';
import { writeBigModule } from '../bigzip.js';
import { spawnGateway, startFileUpstream } from '../lib.js';
import type { Result } from '../report.js';

const MiB = 1024 * 1024;

async function timedGet(url: string, dispatcher: Agent): Promise<number> {
  const t0 = performance.now();
  const res = await request(url, { dispatcher, headersTimeout: 300_000, bodyTimeout: 300_000 });
  for await (const _ of res.body) void _;
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
  return (performance.now() - t0) / 1000;
}

/** Cold fetch of a 50 MiB zip through the gateway against the same fetch straight from the upstream. */
export async function coldFetch(sizeMiB = 50, bytesPerSecond = 50e6): Promise<Result[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-bench-cold-'));
  const out: Result[] = [];
  try {
    const up = path.join(dir, 'up');
    const zip = await writeBigModule(up, 'example.com/cold', 'v1.0.0', sizeMiB * MiB);
    const h1 = await hashZipFile(zip);
    const records = [
      {
        path: 'example.com/cold',
        version: 'v1.0.0',
        h1,
        modH1: hashGoMod('module example.com/cold\n'),
      },
    ];
    const certs = await initCerts({ dir: path.join(dir, 'certs') });
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
    for (const rate of [bytesPerSecond, 0]) {
      const server = await startFileUpstream(up, rate);
      const sumdbServer = await startFakeSumdb({ name: 'cold.sumdb.localhost', records });
      const gw = await spawnGateway(
        [
          '--allow-http-upstream',
          '--upstream',
          server.url,
          '--sumdb',
          `${sumdbServer.verifierKey} ${sumdbServer.url}`,
          '--data',
          path.join(dir, `data-${rate}`),
          '--tls-cert',
          certs.certFile,
          '--tls-key',
          certs.keyFile,
        ],
        { MODGATE_PINNING: 'optional' },
      );
      try {
        const zipPath = '/example.com/cold/@v/v1.0.0.zip';
        const direct = await timedGet(server.url + zipPath, dispatcher);
        const through = await timedGet(gw.url + zipPath, dispatcher);
        if (rate) {
          out.push({
            id: 'cold.ratio',
            label: `cold ${sizeMiB} MiB zip at 50 MB/s: gateway/direct time`,
            value: through / direct,
            unit: 'x',
            target: 1.15,
            better: 'lower',
            note: `gateway ${through.toFixed(2)} s, direct ${direct.toFixed(2)} s`,
          });
        } else {
          const t0 = performance.now();
          await verifyModuleZip(zip, { path: 'example.com/cold', version: 'v1.0.0' });
          const verify = (performance.now() - t0) / 1000;
          out.push({
            id: 'cold.unthrottled',
            label: `cold ${sizeMiB} MiB zip unthrottled: gateway/(direct+verify)`,
            value: through / (direct + verify),
            unit: 'x',
            note: `gateway ${through.toFixed(2)} s, direct ${direct.toFixed(2)} s, verify alone ${verify.toFixed(2)} s`,
          });
        }
      } finally {
        await gw.stop();
        await server.close();
        await sumdbServer.stop();
      }
    }
    await dispatcher.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}
