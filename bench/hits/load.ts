/**
 * One load generator for every server: wrk when installed
 * (scripts/install-bench-tools.sh), autocannon otherwise. Each run measures
 * the CPU the server's process tree used while it lasted.
 */
import { execFile, execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { treeCpuSeconds } from './proctree.js';

export interface Load {
  rps: number;
  requests: number;
  seconds: number;
  /** Latency percentiles in ms. */
  p50: number;
  p99: number;
  errors: number;
  /** CPU seconds of the server's process tree during the run. */
  cpu: number;
}

// wrk's done() hook writes its summary as one JSON line (latencies in µs).
const WRK_SCRIPT = `done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format('{"requests":%d,"duration":%d,"errors":%d,"status":%d,"p50":%d,"p99":%d}\\n',
    s.requests, s.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
`;

let found: 'wrk' | 'autocannon' | undefined;

export function generator(): 'wrk' | 'autocannon' {
  if (found) return found;
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    found = 'wrk';
  } catch (err) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT.
    found = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'autocannon' : 'wrk';
  }
  return found;
}

interface Raw {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
}

function wrk(url: string, connections: number, seconds: number): Promise<Raw> {
  const script = path.join(tmpdir(), `modgate-bench-wrk-${process.pid}-${Date.now()}.lua`);
  writeFileSync(script, WRK_SCRIPT);
  const threads = String(Math.min(2, connections));
  const args = ['-t', threads, '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s'];
  return new Promise((resolve, reject) => {
    execFile(
      'wrk',
      [...args, '-s', script, url],
      { timeout: (seconds + 30) * 1000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        rmSync(script, { force: true });
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (err || !line) return reject(new Error(`wrk ${url}: ${err?.message ?? ''} ${stderr}`));
        const j = JSON.parse(line) as Record<string, number>;
        resolve({
          requests: j.requests!,
          seconds: j.duration! / 1e6,
          p50: j.p50! / 1000,
          p99: j.p99! / 1000,
          errors: j.errors! + j.status!,
        });
      },
    );
  });
}

async function cannon(url: string, connections: number, seconds: number): Promise<Raw> {
  const r = await autocannon({ url, connections, duration: seconds, pipelining: 1 });
  return {
    requests: r.requests.total,
    seconds: r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
  };
}

/** `connections` keep-alive clients GETting `url` for `seconds`; the CPU of the tree at `pid`. */
export async function load(
  url: string,
  connections: number,
  seconds: number,
  pid: number,
): Promise<Load> {
  const run = generator() === 'wrk' ? wrk : cannon;
  const c0 = treeCpuSeconds(pid);
  const r = await run(url, connections, seconds);
  const cpu = treeCpuSeconds(pid) - c0;
  return { ...r, rps: r.requests / r.seconds, cpu };
}
