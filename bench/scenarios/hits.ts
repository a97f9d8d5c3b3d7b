/**
 * Cached hits against the peers, in the same run on the same files with one
 * load generator: modgate, goproxy/goproxy, Athens (when ATHENS_SRC is set)
 * and nginx as the static limit. Every cell runs once per round and the
 * rounds are interleaved (each round starts with a different server), so
 * that each round's ratios saw the same machine. Prints the peers table and
 * the targets of issue 19 as median ratios with their range.
 *
 * BENCH_HITS_SECONDS (3) per cell, BENCH_HITS_ROUNDS (3), BENCH_MODGATE_WORKERS
 * (server.workers), BENCH_NGINX_WORKERS (worker_processes), ATHENS_SRC.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Agent, request } from 'undici';
import { startAthens } from '../peers/athens.js';
import { isMissing, why, type Endpoint, type Launched, type Server } from '../peers/common.js';
import { startGoproxy } from '../peers/goproxy.js';
import { startModgates } from '../peers/modgate.js';
import { startNginx } from '../peers/nginx.js';
import { fsyncMs } from '../hits/fsync.js';
import { generator, load, type Load } from '../hits/load.js';
import { COLUMNS, ROWS, type Measured, type Row, type ServerId } from '../hits/plan.js';
import { peersTable } from '../hits/table.js';
import { targets } from '../hits/targets.js';
import { artifacts, writeAthensTree, writeProxyTree, type Artifact } from '../hits/trees.js';
import type { Report } from '../report.js';
import { benchEnv } from '../setup.js';

const log = (s: string): void => void process.stderr.write(`hits: ${s}\n`);

function endpoint(s: Launched | undefined, r: Row): Endpoint | undefined {
  return isMissing(s) ? undefined : s[r.proto];
}

/** Each server must serve exactly the cached bytes before it is measured. */
async function sameBytes(servers: Map<ServerId, Launched>, arts: Artifact[]): Promise<void> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    for (const [id, s] of servers) {
      if (isMissing(s)) continue;
      for (const ep of [s.http, s.https].filter((e) => e !== undefined))
        for (const a of arts) {
          const r = await request(`${ep.url}/${a.path}`, { dispatcher });
          const body = Buffer.from(await r.body.arrayBuffer());
          const sha = createHash('sha256').update(body).digest('hex');
          if (r.statusCode !== 200 || sha !== a.sha256)
            servers.set(id, { missing: `served other bytes for ${a.path} (${r.statusCode})` });
        }
    }
  } finally {
    await dispatcher.close();
  }
}

async function run(
  m: Measured,
  servers: Map<ServerId, Launched>,
  arts: Artifact[],
  round: number,
  seconds: number,
  record: boolean,
): Promise<void> {
  for (const row of ROWS) {
    const art = arts.find((a) => a.kind === row.kind)!;
    const order = row.servers.map((_, i) => row.servers[(i + round) % row.servers.length]!);
    for (const id of order) {
      const ep = endpoint(servers.get(id), row);
      if (!ep) {
        const s = servers.get(id);
        if (record && round === 0 && !isMissing(s))
          m.problems.push(`${id}: no ${row.proto} endpoint`);
        continue;
      }
      let l: Load | undefined;
      try {
        l = await load(
          `${ep.url}/${art.path}`,
          row.conns,
          Math.max(seconds, record ? (row.minSeconds ?? 0) : 0),
          ep.pid,
        );
        if (l.errors && record)
          m.problems.push(
            `round ${round + 1}, ${row.id}, ${id}: ${l.errors} errors of ${l.requests}`,
          );
      } catch (err) {
        if (record) m.problems.push(`round ${round + 1}, ${row.id}, ${id}: ${why(err)}`);
      }
      if (!record) continue;
      const cell = ((m.samples[row.id] ??= {})[id] ??= []);
      cell[round] = l;
    }
  }
}

export async function cachedHits(): Promise<Report> {
  const seconds = Number(process.env.BENCH_HITS_SECONDS ?? 3);
  const rounds = Number(process.env.BENCH_HITS_ROUNDS ?? 3);
  const env = await benchEnv(1, 1 << 20);
  const arts = artifacts(env.modules[0]!);
  const probe = arts[0]!.path;
  const started: Launched[] = [];
  try {
    const tree = path.join(env.dir, 'tree');
    await writeProxyTree(tree, env.modules[0]!);
    await writeProxyTree(path.join(env.dir, 'goproxy-cache'), env.modules[0]!);
    await writeAthensTree(path.join(env.dir, 'athens'), env.modules[0]!);
    log('starting modgate (HTTP, HTTPS, HTTP with the audit trail off)...');
    const mg = await startModgates(
      env,
      arts.map((a) => a.path),
    );
    log('starting goproxy, Athens, nginx...');
    const cert = { certFile: env.certFile, keyFile: env.keyFile };
    const upstream = env.upstream.url;
    const peers: [ServerId, Launched][] = [
      [
        'goproxy',
        await startGoproxy({
          cache: path.join(env.dir, 'goproxy-cache'),
          upstream,
          probe,
          ...cert,
        }),
      ],
      ['athens', await startAthens({ root: path.join(env.dir, 'athens'), upstream, probe })],
      ['nginx', await startNginx({ root: tree, dir: path.join(env.dir, 'nginx'), probe, ...cert })],
    ];
    started.push(...peers.map(([, s]) => s));
    const servers = new Map<ServerId, Launched>([
      ['modgate', mg.on],
      ['modgate-noaudit', mg.off],
      ...peers,
    ]);
    await sameBytes(servers, arts);
    const m: Measured = {
      rounds,
      seconds,
      samples: {},
      fsync: [],
      missing: {},
      about: {},
      generator: generator(),
      problems: [],
    };
    for (const c of COLUMNS) {
      const s = servers.get(c.id);
      if (isMissing(s)) m.missing[c.id] = s?.missing ?? 'not started';
      else m.about[c.id] = s.about;
    }
    log(`warm-up (1 s per cell), then ${rounds} rounds of ${seconds} s per cell...`);
    await run(m, servers, arts, 0, 1, false);
    for (let r = 0; r < rounds; r++) {
      log(`round ${r + 1}/${rounds}`);
      m.fsync.push(fsyncMs(path.join(env.dir, 'modgate-http')));
      await run(m, servers, arts, r, seconds, true);
    }
    return { results: targets(m), text: peersTable(m) };
  } finally {
    await Promise.all(started.map((s) => (isMissing(s) ? undefined : (s as Server).stop())));
    await env.close();
  }
}
