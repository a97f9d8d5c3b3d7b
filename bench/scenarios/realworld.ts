/**
 * The real-world cold graph (issue 12): `go mod download` of a real project's
 * whole module set from a recorded replay behind a simulated link, direct,
 * through modgate cold and warm, and through the goproxy peer cold and warm,
 * each with a fresh module cache and the go command checking the checksum
 * database itself. Records the replay first when it is missing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { buildPeer, goCheck, timedDownload } from '../realworld/gocmd.js';
import { PROJECT, SUMDB_NAME, cacheDir, replayDir } from '../realworld/project.js';
import { record } from '../realworld/record.js';
import { linkFromEnv, startReplay, type Replay } from '../realworld/replay.js';
import { treeCpuSeconds as cpuSeconds } from '../hits/proctree.js';
import { startGoproxyPeer, startModgate } from '../realworld/servers.js';
import { bodyFile, type Manifest, type SetZip } from '../realworld/store.js';
import type { Result } from '../report.js';

const log = (s: string): void => void process.stderr.write(`realworld: ${s}\n`);
const MB = 1e6;

interface Timed {
  seconds: number;
  cpu: number;
}

/** Time to the first body byte and to the last, for one GET on a fresh connection. */
async function firstAndLast(url: string): Promise<{ first: number; total: number }> {
  const dispatcher = new Agent();
  try {
    const t0 = performance.now();
    const res = await request(url, { dispatcher, headersTimeout: 600_000, bodyTimeout: 600_000 });
    let first = 0;
    for await (const _ of res.body) first ||= performance.now() - t0;
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
    return { first: first / 1000, total: (performance.now() - t0) / 1000 };
  } finally {
    await dispatcher.close();
  }
}

/** The audit log's write counts from modgate's /metrics (undefined when not exposed). */
async function auditWrites(url: string): Promise<Record<string, number> | undefined> {
  const res = await request(`${url}/metrics`).catch(() => undefined);
  if (!res) return undefined;
  const text = await res.body.text();
  if (res.statusCode !== 200) return undefined;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^modgate_audit_writes\{what="(\w+)"\} (\d+)/gm))
    out[m[1]!] = Number(m[2]);
  return out.records ? out : undefined;
}

/** A cold run and then a warm one through the same proxy process, with its CPU seconds for each. */
async function coldWarm(
  url: string,
  pid: number,
  m: Manifest,
  tmp: string,
): Promise<{ cold: Timed; warm: Timed; audit?: Record<string, number> }> {
  const c0 = cpuSeconds(pid);
  const cold = await timedDownload(url, m.set, tmp);
  const c1 = cpuSeconds(pid);
  const audit = await auditWrites(url);
  const warm = await timedDownload(url, m.set, tmp);
  const c2 = cpuSeconds(pid);
  return {
    cold: { seconds: cold, cpu: c1 - c0 },
    warm: { seconds: warm, cpu: c2 - c1 },
    ...(audit ? { audit } : {}),
  };
}

function missedBy(value: number, target: number): string {
  return value <= target ? '' : `; missed by ${(((value - target) / target) * 100).toFixed(0)}%`;
}

function manyFileZip(m: Manifest): SetZip {
  return m.set.reduce((a, b) => (b.files > a.files ? b : a));
}

export async function realWorld(): Promise<Result[]> {
  const manifest = await record();
  const dir = replayDir();
  const link = linkFromEnv();
  const tmp = await mkdtemp(path.join(tmpdir(), 'modgate-bench-realworld-'));
  const bin = path.join(cacheDir(), 'bin');
  const [goproxyBin, gocheckBin] = await Promise.all([
    buildPeer('goproxy', bin),
    buildPeer('gocheck', bin),
  ]);
  const peerSumdb = process.env.BENCH_PEER_SUMDB ?? SUMDB_NAME;
  // BENCH_REALWORLD_PEER=off leaves the goproxy peer out (a shorter run, for comparing modgate builds).
  const withPeer = process.env.BENCH_REALWORLD_PEER !== 'off';
  // BENCH_REALWORLD_BASELINE=DIR: also a cold run through another built modgate checkout (before/after).
  const baseline = process.env.BENCH_REALWORLD_BASELINE;
  const zipBytes = manifest.set.reduce((n, z) => n + z.size, 0);
  const load0 = loadavg()[0]!;
  let replay: Replay | undefined;
  try {
    replay = await startReplay(dir, manifest, link);
    log(`direct (${manifest.set.length} versions, ${(zipBytes / MB).toFixed(0)} MB of zips)...`);
    const direct = await timedDownload(replay.url, manifest.set, tmp);

    let base: Timed | undefined;
    let baseFailure: string | undefined;
    if (baseline) {
      log(`baseline modgate (${baseline}) cold...`);
      const gb = await startModgate(replay.url, path.join(tmp, 'modgate-base'), baseline);
      try {
        const c0 = cpuSeconds(gb.proc.pid!);
        const seconds = await timedDownload(gb.url, manifest.set, tmp);
        base = { seconds, cpu: cpuSeconds(gb.proc.pid!) - c0 };
      } catch (err) {
        // A baseline that fails (e.g. upstream deadlines on a starved host) does not end the run.
        baseFailure = (err as Error).message.split('\n').slice(0, 2).join(' ');
        log(`baseline failed: ${baseFailure}`);
      } finally {
        await gb.stop();
      }
    }

    log('modgate cold and warm...');
    const gw = await startModgate(replay.url, path.join(tmp, 'modgate'));
    const mg = await coldWarm(gw.url, gw.proc.pid!, manifest, tmp).finally(() => gw.stop());
    const audit = mg.audit;

    let gp: { cold: Timed; warm: Timed } | undefined;
    if (withPeer) {
      log('goproxy peer cold and warm...');
      const peer = await startGoproxyPeer(
        goproxyBin,
        replay.url,
        path.join(tmp, 'goproxy'),
        peerSumdb,
      );
      gp = await coldWarm(peer.url, peer.pid, manifest, tmp).finally(() => peer.stop());
    }

    const big = manyFileZip(manifest);
    log(`first byte of ${big.path}@${big.version} (${big.files} files)...`);
    const bigDirect = await firstAndLast(replay.url + big.urlPath);
    const gw2 = await startModgate(replay.url, path.join(tmp, 'modgate-ttfb'));
    const bigThrough = await firstAndLast(gw2.url + big.urlPath).finally(() => gw2.stop());

    log("Go's HashZip + CheckZip on the same zips...");
    const go = await goCheck(
      gocheckBin,
      manifest.set.map((z) => ({ mod: z, file: bodyFile(dir, z.urlPath) })),
    );
    const load1 = loadavg()[0]!;
    return results({
      manifest,
      link,
      zipBytes,
      direct,
      mg,
      gp,
      base,
      baseFailure,
      audit,
      big,
      bigDirect,
      bigThrough,
      go,
      peerSumdb,
      misses: replay.misses.size,
      load: `${load0.toFixed(2)} → ${load1.toFixed(2)}`,
    });
  } finally {
    await replay?.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

interface Figures {
  manifest: Manifest;
  link: { bitsPerSecond: number; rttMs: number };
  zipBytes: number;
  direct: number;
  mg: { cold: Timed; warm: Timed };
  gp: { cold: Timed; warm: Timed } | undefined;
  base: Timed | undefined;
  baseFailure: string | undefined;
  audit: Record<string, number> | undefined;
  big: SetZip;
  bigDirect: { first: number; total: number };
  bigThrough: { first: number; total: number };
  go: { cpuSeconds: number; wallSeconds: number };
  peerSumdb: string;
  misses: number;
  load: string;
}

function results(f: Figures): Result[] {
  const name = `${PROJECT.module.split('/').pop()}@${PROJECT.version}`;
  const cold = f.mg.cold.seconds / f.direct;
  const warm = f.mg.warm.seconds / f.direct;
  const cpuPer100 = (f.mg.cold.cpu / f.zipBytes) * 100 * MB;
  const cpuVsGo = f.mg.cold.cpu / f.go.cpuSeconds;
  const ttfb = f.bigThrough.first / f.bigDirect.total;
  const results: Result[] = [
    {
      id: 'realworld.direct',
      label: `${name}: go mod download direct from the replay`,
      value: f.direct,
      unit: 's',
      note: `${f.manifest.set.length} versions, ${(f.zipBytes / MB).toFixed(0)} MB of zips; link ${f.link.bitsPerSecond / 1e6} Mbit/s shared, ${f.link.rttMs} ms RTT; load ${f.load}${f.misses ? `; ${f.misses} paths not in the replay` : ''}`,
    },
    {
      id: 'realworld.cold',
      label: `${name}: through modgate cold / direct`,
      value: cold,
      unit: 'x',
      target: 1.2,
      better: 'lower',
      note: `${f.mg.cold.seconds.toFixed(1)} s against ${f.direct.toFixed(1)} s${missedBy(cold, 1.2)}`,
    },
    {
      id: 'realworld.warm',
      label: `${name}: through modgate warm / direct`,
      value: warm,
      unit: 'x',
      target: 1.05,
      better: 'lower',
      note: `${f.mg.warm.seconds.toFixed(1)} s${missedBy(warm, 1.05)}`,
    },
    {
      id: 'realworld.cpu',
      label: `${name}: modgate CPU per 100 MB of zips, cold`,
      value: cpuPer100,
      unit: 's',
      note: `${f.mg.cold.cpu.toFixed(1)} s cold, ${f.mg.warm.cpu.toFixed(1)} s warm`,
    },
    {
      id: 'realworld.cpu-vs-go',
      label: `${name}: modgate cold CPU / Go's HashZip+CheckZip CPU`,
      value: cpuVsGo,
      unit: 'x',
      target: 2,
      better: 'lower',
      note: `Go ${f.go.cpuSeconds.toFixed(1)} s CPU (${f.go.wallSeconds.toFixed(1)} s wall)${missedBy(cpuVsGo, 2)}`,
    },
    {
      id: 'realworld.ttfb',
      label: `${name}: first byte of ${f.big.path} through modgate cold / its direct transfer`,
      value: ttfb,
      unit: 'x',
      target: 1.5,
      better: 'lower',
      note: `${f.big.files} files, ${(f.big.size / MB).toFixed(1)} MB: first byte ${f.bigThrough.first.toFixed(2)} s, direct transfer ${f.bigDirect.total.toFixed(2)} s${missedBy(ttfb, 1.5)}`,
    },
  ];
  if (f.audit)
    results.push({
      id: 'realworld.audit',
      label: `${name}: audit records per fsync, cold`,
      value: f.audit.records! / Math.max(1, f.audit.fsyncs ?? 0),
      unit: '',
      note: `${f.audit.records} records in ${f.audit.batches} group commits, ${f.audit.fsyncs} fsyncs`,
    });
  if (f.baseFailure)
    results.push({
      id: 'realworld.baseline.error',
      label: `${name}: baseline modgate cold failed`,
      value: 0,
      unit: '',
      note: f.baseFailure,
    });
  if (f.base) results.push(...baselineResults(f, f.base, name));
  return f.gp ? [...results, ...peerResults(f, f.gp, name)] : results;
}

/** The same cold download through a baseline build, in the same run: the before of a change. */
function baselineResults(f: Figures, base: Timed, name: string): Result[] {
  return [
    {
      id: 'realworld.baseline.cold',
      label: `${name}: baseline modgate cold / direct`,
      value: base.seconds / f.direct,
      unit: 'x',
      note: `${base.seconds.toFixed(1)} s, ${base.cpu.toFixed(1)} s CPU (${((base.cpu / f.zipBytes) * 100 * MB).toFixed(1)} s per 100 MB)`,
    },
    {
      id: 'realworld.baseline.ratio',
      label: `${name}: modgate cold / baseline modgate cold`,
      value: f.mg.cold.seconds / base.seconds,
      unit: 'x',
      note: `CPU ${(f.mg.cold.cpu / base.cpu).toFixed(2)}x the baseline's`,
    },
  ];
}

function peerResults(f: Figures, gp: { cold: Timed; warm: Timed }, name: string): Result[] {
  const peerVerifies =
    f.peerSumdb === 'off'
      ? 'goproxy checks zip rules only (GOSUMDB=off in its fetcher)'
      : `goproxy checks zip rules and looks up ${f.peerSumdb} for each .mod and .zip`;
  return [
    {
      id: 'realworld.peer.cold',
      label: `${name}: modgate cold / goproxy peer cold`,
      value: f.mg.cold.seconds / gp.cold.seconds,
      unit: 'x',
      note: `goproxy ${gp.cold.seconds.toFixed(1)} s (${gp.cold.cpu.toFixed(1)} s CPU); ${peerVerifies}; modgate checks zip rules, hashes and proves each against ${SUMDB_NAME}, evaluates policy, writes audit`,
    },
    {
      id: 'realworld.peer.warm',
      label: `${name}: modgate warm / goproxy peer warm`,
      value: f.mg.warm.seconds / gp.warm.seconds,
      unit: 'x',
      note: `goproxy ${gp.warm.seconds.toFixed(1)} s (${gp.warm.cpu.toFixed(1)} s CPU)`,
    },
  ];
}
