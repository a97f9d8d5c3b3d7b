/**
 * github.com/goproxy/goproxy v0.20.0 (bench/peers/goproxy) with its disk
 * cacher over a GOPROXY tree, on HTTP and HTTPS in one process. It answers a
 * cached .info, .mod or .zip from the cacher before looking at its fetcher.
 */
import path from 'node:path';
import { freePort } from '../lib.js';
import { buildPeer } from '../realworld/gocmd.js';
import { cacheDir } from '../realworld/project.js';
import { spawnServer, waitReady, why, type Launched } from './common.js';

export interface GoproxyOptions {
  /** A GOPROXY tree holding the cached files (goproxy's DirCacher keys files by request path). */
  cache: string;
  /** Where a miss would be fetched from (the bench's fake upstream; a hit never reaches it). */
  upstream: string;
  certFile: string;
  keyFile: string;
  /** A request path that must answer 200 once it is up. */
  probe: string;
}

export async function startGoproxy(o: GoproxyOptions): Promise<Launched> {
  let bin: string;
  try {
    bin = await buildPeer('goproxy', path.join(cacheDir(), 'bin'));
  } catch (err) {
    return { missing: `build failed: ${why(err)}` };
  }
  const [port, tlsPort] = [await freePort(), await freePort()];
  const s = spawnServer(
    bin,
    [
      '-listen',
      `127.0.0.1:${port}`,
      '-tls-listen',
      `127.0.0.1:${tlsPort}`,
      '-tls-cert',
      o.certFile,
      '-tls-key',
      o.keyFile,
      '-cache',
      o.cache,
      '-upstream',
      o.upstream,
      '-sumdb',
      'off',
    ],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME } },
  );
  const http = `http://127.0.0.1:${port}`;
  try {
    await waitReady(`${http}/${o.probe}`, s.proc, s.errTail);
    await waitReady(`https://127.0.0.1:${tlsPort}/${o.probe}`, s.proc, s.errTail);
  } catch (err) {
    await s.stop();
    return { missing: `did not start: ${why(err)}` };
  }
  const pid = s.proc.pid!;
  return {
    http: { url: http, pid },
    https: { url: `https://127.0.0.1:${tlsPort}`, pid },
    about:
      'goproxy/goproxy v0.20.0, DirCacher (disk), fetcher GOSUMDB=off (only hits are measured)',
    stop: () => s.stop(),
  };
}
