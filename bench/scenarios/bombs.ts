import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { request } from 'undici';
import { escapePath } from '../../src/integrity/module.js';
import { entry, Rng, serialize, type GenEntry } from '../../test/integrity/zipgen.js';
import { spawnGateway, startFileUpstream } from '../lib.js';
import type { Result } from '../report.js';

const MiB = 1024 * 1024;
const VERSION = 'v1.0.0';

/** Raw deflate of `mib` MiB of zeros: one 1 KiB block repeated. */
function zeros(mib: number): Buffer {
  const block = deflateRawSync(Buffer.alloc(MiB), { finishFlush: constants.Z_SYNC_FLUSH });
  return Buffer.concat([...Array<Buffer>(mib).fill(block), Buffer.from([3, 0])]);
}

function bomb(name: string, mib: number, declared: number, descriptor = false): GenEntry {
  const e = entry(Buffer.from(name), Buffer.alloc(0), new Rng(1));
  e.method = e.local.method = 8;
  e.flags = e.local.flags = descriptor ? 8 : 0;
  e.stored = zeros(mib);
  e.csize = e.stored.length;
  e.usize = declared;
  e.crc = crc32(Buffer.alloc(Math.min(declared, mib * MiB))) >>> 0;
  const [crc, csize, usize] = descriptor ? [0, 0, 0] : [e.crc, e.csize, e.usize];
  e.local = { name: e.name, flags: e.flags, method: 8, crc, csize, usize, extra: Buffer.alloc(0) };
  if (descriptor) e.descriptor = { signed: true, crc: e.crc, csize: e.csize, usize: e.usize };
  else delete e.descriptor;
  return e;
}

function tiny(prefix: string, n: number, deep = 0): GenEntry[] {
  const r = new Rng(2);
  return Array.from({ length: n }, (_, i) =>
    entry(Buffer.from(`${prefix}r${i}/${'d/'.repeat(deep)}f${i}.go`), Buffer.from('x'), r),
  );
}

/** Eight kinds of decompression bomb, each a module of its own. */
function bombs(): Record<string, (prefix: string) => GenEntry[]> {
  return {
    'gomod-small': (p) => [bomb(`${p}go.mod`, 1024, 100)],
    'gomod-16mib': (p) => [bomb(`${p}go.mod`, 1024, 16 * MiB)],
    'file-1kib': (p) => [bomb(`${p}a.go`, 1024, 1024)],
    'file-400mib': (p) => [bomb(`${p}a.go`, 1024, 400 * MiB)],
    'descriptor-bomb': (p) => [bomb(`${p}a.go`, 1024, 1024, true)],
    'total-over-500mib': (p) => [0, 1, 2, 3, 4, 5].map((k) => bomb(`${p}f${k}.go`, 1, 100 * MiB)),
    'entries-over-cap': (p) => tiny(p, 100_001),
    'deep-paths': (p) => tiny(p, 5_000, 60),
  };
}

async function writeModules(dir: string): Promise<string[]> {
  const mods: string[] = [];
  for (const [kind, make] of Object.entries(bombs())) {
    const mod = `example.com/bomb/${kind}`;
    const base = path.join(dir, escapePath(mod), '@v');
    await mkdir(base, { recursive: true });
    const es = make(`${mod}@${VERSION}/`);
    const zip = serialize({
      mod: { path: mod, version: VERSION },
      entries: es,
      comment: Buffer.alloc(0),
      prepend: Buffer.alloc(0),
      ...(es.length >= 0xffff ? { zip64: { saturate: true } } : {}),
    });
    await writeFile(path.join(base, `${VERSION}.zip`), zip);
    await writeFile(path.join(base, `${VERSION}.mod`), `module ${mod}\n`);
    await writeFile(path.join(base, `${VERSION}.info`), JSON.stringify({ Version: VERSION }));
    await writeFile(path.join(base, 'list'), `${VERSION}\n`);
    mods.push(mod);
  }
  return mods;
}

/** Peak RSS of a gateway while eight different decompression bombs are fetched through it at once. */
export async function bombRss(): Promise<Result[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-bench-bombs-'));
  try {
    const mods = await writeModules(path.join(dir, 'up'));
    const up = await startFileUpstream(path.join(dir, 'up'));
    const gw = await spawnGateway(
      [
        '--insecure-http',
        '--allow-http-upstream',
        ...['--upstream', up.url, '--sumdb', 'off', '--data', path.join(dir, 'data')],
      ],
      { MODGATE_PINNING: 'optional', MODGATE_AUDIT__ENABLED: 'false' },
    );
    try {
      const started = performance.now();
      const statuses = await Promise.all(
        mods.map(async (m) => {
          const res = await request(`${gw.url}/${m}/@v/${VERSION}.zip`, {
            bodyTimeout: 300_000,
            headersTimeout: 300_000,
          });
          await res.body.dump();
          return res.statusCode;
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const refused = statuses.filter((s) => s >= 400).length;
      return [
        {
          id: 'bombs.rss',
          label: 'peak RSS while 8 different decompression bombs are fetched at once (cold)',
          value: gw.peakRss() / MiB,
          unit: 'MiB',
          target: 250,
          better: 'lower',
          note: `${refused} of ${statuses.length} refused (${statuses.join(' ')}) in ${seconds.toFixed(1)} s`,
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
