/** The two proxies under test, each a separate process in front of one upstream URL. */
import { spawn } from 'node:child_process';
import { spawnGateway, type Child } from '../lib.js';
import { SUMDB_KEY, SUMDB_NAME } from './project.js';

/**
 * `modgate serve` with `upstream` as its only upstream and the checksum
 * database (the real key) reached at `upstream`/sumdb/. Plain HTTP on loopback,
 * as the direct path and the peer are: the comparison is of the work each
 * proxy does, not of TLS.
 */
export function startModgate(upstream: string, dataDir: string, checkout?: string): Promise<Child> {
  return spawnGateway(
    [
      '--insecure-http',
      '--allow-http-upstream',
      '--upstream',
      upstream,
      '--sumdb',
      `${SUMDB_KEY} ${upstream}/sumdb/${SUMDB_NAME}`,
      '--data',
      dataDir,
    ],
    {
      MODGATE_PINNING: 'optional',
      MODGATE_PRIVATE: '',
      MODGATE_NO_SUMDB: '',
      MODGATE_LOG__LEVEL: 'error',
    },
    checkout,
  );
}

export interface Peer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The goproxy peer (bench/peers/goproxy) with its disk cache in `cacheDir`.
 * `sumdb` is the GOSUMDB its fetcher checks downloads against ("off": zip
 * rules only). Reusable by any scenario that needs a second proxy to compare with.
 */
export async function startGoproxyPeer(
  bin: string,
  upstream: string,
  cacheDir: string,
  sumdb: string,
): Promise<Peer> {
  const proc = spawn(
    bin,
    [
      '-cache',
      cacheDir,
      '-upstream',
      upstream,
      '-sumdb',
      sumdb,
      '-sumdb-name',
      SUMDB_NAME,
      '-sumdb-url',
      `${upstream}/sumdb/${SUMDB_NAME}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: process.env.HOME } },
  );
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.on('exit', (code) => reject(new Error(`goproxy peer exited ${code}: ${err}`)));
  });
  return {
    url,
    pid: proc.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
