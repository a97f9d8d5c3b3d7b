import autocannon from 'autocannon';
import { Agent, request } from 'undici';
import { benchEnv } from '../setup.js';
import type { Result } from '../report.js';

/** 200 concurrent cold requests for one artifact: one upstream fetch, and their p99. */
export async function coldHerd(): Promise<Result[]> {
  const env = await benchEnv(1, 4 << 20);
  try {
    const gw = await env.gateway('herd');
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false }, connections: 256 });
    const url = `${gw.url}/example.com/bench0/@v/v1.0.0.zip`;
    const times = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const t0 = performance.now();
        const res = await request(url, { dispatcher });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        return performance.now() - t0;
      }),
    );
    await dispatcher.close();
    times.sort((a, b) => a - b);
    const fetches = env.upstream.count('/example.com/bench0/@v/v1.0.0.zip');
    return [
      {
        id: 'herd.fetches',
        label: '200 concurrent cold requests: upstream fetches',
        value: fetches,
        unit: '',
        target: 1,
        better: 'lower',
        note: `p50 ${times[99]!.toFixed(0)} ms, p99 ${times[197]!.toFixed(0)} ms`,
      },
    ];
  } finally {
    await env.close();
  }
}

/** 1,000 concurrent keep-alive clients for 20 s: errors and RSS. */
export async function manyClients(seconds = 20): Promise<Result[]> {
  const env = await benchEnv(1, 64 << 10);
  try {
    const gw = await env.gateway('many');
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
    await (await request(`${gw.url}/example.com/bench0/@v/v1.0.0.mod`, { dispatcher })).body.dump();
    await dispatcher.close();
    const r = await autocannon({
      url: `${gw.url}/example.com/bench0/@v/v1.0.0.mod`,
      connections: 1000,
      duration: seconds,
    });
    const errors = r.errors + r.timeouts + r.non2xx;
    return [
      {
        id: 'clients.errors',
        label: `1,000 keep-alive clients for ${seconds} s: errors`,
        value: errors,
        unit: '',
        target: 0,
        better: 'lower',
        note: `${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx; ${r.requests.average.toFixed(0)} req/s, p99 ${r.latency.p99} ms, gateway RSS ${(gw.rss() / 2 ** 20).toFixed(0)} MiB (peak ${(gw.peakRss() / 2 ** 20).toFixed(0)} MiB)`,
      },
    ];
  } finally {
    await env.close();
  }
}
