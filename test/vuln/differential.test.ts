/**
 * Done-means for the vulnerability index: on 1,000 (module, version) pairs
 * drawn around the snapshot's own range boundaries (seeded), the index and
 * the real govulncheck (`-db file://<unpacked snapshot> -scan module -format
 * json`) agree on which ids affect which version, and on the fixed version.
 * Pairs are batched: one go.mod requires many stub modules (one version of
 * each), served by a file GOPROXY; standard-library versions ride along as
 * the batch's GOVERSION.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  checkImportPath,
  checkPath,
  matchPathMajor,
  splitPathVersion,
} from '../../src/integrity/module.js';
import { canonical, isValid, major, prerelease } from '../../src/integrity/semver.js';
import { VulnIndex, osvVersion } from '../../src/vuln/index.js';
import { checkSnapshot } from '../../src/vuln/layout.js';
import { readZip } from '../../src/vuln/source.js';
import { td } from '../helpers/testdata.js';
import { addStubModule, scanModules } from './helpers/govulncheck.js';

const PAIRS = 1000;
const SEED = 20261105;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Versions at, just below and just above a boundary. */
function around(b: string): string[] {
  const c = canonical(osvVersion(b).replace(/\+.*$/, ''));
  if (!c) return [];
  const m = /^v(\d+)\.(\d+)\.(\d+)(-.*)?$/.exec(c)!;
  const [maj, min, pat] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const out = [c, `v${maj}.${min}.${pat + 1}`, `v${maj}.${min + 1}.0`];
  if (!prerelease(c)) {
    out.push(`${c}-0.20200101000000-abcdefabcdef`, `${c}-rc.1`);
    if (pat > 0) out.push(`v${maj}.${min}.${pat - 1}`);
  } else out.push(`${c}.1`);
  return out;
}

/** The version as a module of this path may carry it, or undefined. */
function forPath(mod: string, v: string): string | undefined {
  const [, pathMajor] = splitPathVersion(mod);
  let out = v;
  if (pathMajor === '' && major(v) !== 'v0' && major(v) !== 'v1') out = `${v}+incompatible`;
  if (!isValid(out) || !matchPathMajor(out, pathMajor)) return undefined;
  return out;
}

function semverToGoTag(v: string): string {
  if (v === 'v1.0.0') return 'go1';
  const m = /^v(\d+)\.(\d+)\.(\d+)(?:-(beta|rc)\.(\d+))?$/.exec(v);
  if (!m) return '';
  const patch = m[3] === '0' && (Number(m[2]) < 21 || m[4]) ? '' : `.${m[3]}`;
  return `go${m[1]}.${m[2]}${patch}${m[4] ? `${m[4]}${m[5]}` : ''}`;
}

t.test('the index agrees with govulncheck on 1,000 pairs around range boundaries', async (t) => {
  const files = await readZip(td('vulndb', 'vulndb-v1-20261105.zip'));
  const snap = checkSnapshot(files);
  t.equal(snap.entries.length, 4789, 'the snapshot holds every entry');
  const index = new VulnIndex(snap.entries, snap.modified);
  t.equal(index.size, 4789);

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'modgate-vulndiff-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const dbDir = path.join(tmp, 'db');
  for (const [p, b] of files) {
    await mkdir(path.dirname(path.join(dbDir, p)), { recursive: true });
    await writeFile(path.join(dbDir, p), b);
  }

  // Draw pairs: a random entry, one of its modules, one of its boundaries, a neighbour.
  const rand = rng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const mods: Array<{ module: string; version: string }> = [];
  const stdlib: string[] = [];
  const seen = new Set<string>();
  for (let tries = 0; mods.length + stdlib.length < PAIRS && tries < 200_000; tries++) {
    const e = pick(snap.entries);
    const a = pick(e.affected);
    if (a.module === 'toolchain') continue;
    const bounds = a.ranges.flat().filter((ev) => ev.version !== '0');
    if (bounds.length === 0) continue;
    const cand = pick(around(pick(bounds).version));
    if (!cand) continue;
    if (a.module === 'stdlib') {
      const tag = semverToGoTag(cand);
      if (!tag || seen.has(`stdlib@${tag}`) || stdlib.length >= 40) continue;
      seen.add(`stdlib@${tag}`);
      stdlib.push(tag);
      continue;
    }
    try {
      checkPath(a.module);
      checkImportPath(a.module);
    } catch {
      continue;
    }
    const v = forPath(a.module, cand);
    if (!v || seen.has(`${a.module}@${v}`)) continue;
    seen.add(`${a.module}@${v}`);
    mods.push({ module: a.module, version: v });
  }
  t.equal(mods.length + stdlib.length, PAIRS, 'drew 1,000 pairs');

  // Batches: each module at most once per go.mod.
  const batches: Array<Array<{ module: string; version: string }>> = [];
  for (const p of mods) {
    let b = batches.find((x) => !x.some((q) => q.module === p.module));
    if (!b) batches.push((b = []));
    b.push(p);
  }
  while (batches.length < stdlib.length) batches.push([]);
  const proxy = path.join(tmp, 'proxy');
  for (const p of mods) await addStubModule(proxy, p.module, p.version);

  const now = Date.now();
  const expected = (m: string, v: string): Map<string, string> =>
    new Map(
      index
        .lookup(m, v)
        .filter((f) => !f.withdrawn || Date.parse(f.withdrawn) > now)
        .map((f) => [f.id, f.fixed]),
    );
  const disagreements: string[] = [];
  let compared = 0;
  let affectedPairs = 0;
  for (let i = 0; i < batches.length; i++) {
    const reqs = batches[i]!;
    const goVersion = stdlib[i];
    const findings = await scanModules({
      dir: path.join(tmp, `run${i}`),
      proxy,
      db: `file://${dbDir}`,
      reqs,
      ...(goVersion ? { goVersion } : {}),
    });
    const got = new Map<string, Map<string, string>>();
    for (const f of findings) {
      const tr = f.trace[0]!;
      const key = `${tr.module}@${tr.version}`;
      const m = got.get(key) ?? new Map<string, string>();
      m.set(f.osv, f.fixed_version ?? '');
      got.set(key, m);
    }
    const pairs = reqs.map((r) => ({
      module: r.module,
      version: r.version,
      key: `${r.module}@${r.version}`,
    }));
    if (goVersion) {
      const sv = [...got.keys()].find((k) => k.startsWith('stdlib@'));
      pairs.push({ module: 'stdlib', version: goVersion, key: sv ?? 'stdlib@?' });
    }
    for (const p of pairs) {
      compared++;
      const want = expected(p.module, p.version);
      const have = got.get(p.key) ?? new Map<string, string>();
      if (want.size) affectedPairs++;
      const ids = new Set([...want.keys(), ...have.keys()]);
      for (const id of ids) {
        if (!want.has(id) || !have.has(id))
          disagreements.push(
            `${p.module}@${p.version} ${id}: index ${want.has(id)}, govulncheck ${have.has(id)}`,
          );
        else if (want.get(id) !== have.get(id))
          disagreements.push(
            `${p.module}@${p.version} ${id}: fixed ${want.get(id)} vs ${have.get(id)}`,
          );
      }
    }
  }
  t.equal(compared, PAIRS, 'every pair compared');
  t.ok(affectedPairs > PAIRS / 4, `a good share of pairs is affected (${affectedPairs})`);
  t.same(disagreements.slice(0, 20), [], `0 disagreements (${disagreements.length})`);
});
