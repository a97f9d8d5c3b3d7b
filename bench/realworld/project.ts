/**
 * The real-world module graph: which project, where its replay lives, and how
 * the go command's own environment names the upstream it was recorded from.
 */
import { execFileSync } from 'node:child_process';
import { homedir } from 'node:os';
import path from 'node:path';
import { escapePath } from '../../src/integrity/module.js';

/**
 * Fixed at a release tag; the h1 (the checksum database's hash of the module
 * zip, which holds go.mod and go.sum) pins its content. See PROJECT.md.
 */
export const PROJECT = {
  module: 'github.com/prometheus/prometheus',
  version: 'v0.55.1',
  h1: 'h1:+NM9V/h4A+wRkOyQzGewzgPPgq/iX2LUQoISNvmjZmI=',
};

export const SUMDB_NAME = 'sum.golang.org';
export const SUMDB_KEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';

/** BENCH_REALWORLD_CACHE, else ~/.cache/modgate-bench/realworld (outside git, survives npm ci). */
export function cacheDir(): string {
  const fromEnv = process.env.BENCH_REALWORLD_CACHE;
  if (fromEnv) return path.resolve(fromEnv);
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'modgate-bench', 'realworld');
}

/** One replay per project version, so a change of PROJECT records afresh. */
export function replayDir(): string {
  return path.join(
    cacheDir(),
    `replay-${escapePath(PROJECT.module).replace(/\//g, '_')}@${PROJECT.version}`,
  );
}

/**
 * The first proxy in the go command's GOPROXY (`go env GOPROXY`), the channel
 * the go command itself would use. Its name is never written into the project.
 */
export function goEnvUpstream(): string {
  const list = execFileSync('go', ['env', 'GOPROXY'], { encoding: 'utf8' }).trim();
  const first = list
    .split(/[,|]/)
    .map((s) => s.trim())
    .find((s) => s && s !== 'direct' && s !== 'off');
  if (!first) throw new Error(`go env GOPROXY (${list}) names no proxy to record from`);
  return first.replace(/\/+$/, '');
}

export interface ModuleVersion {
  path: string;
  version: string;
}

/** The module versions whose zip hash a go.sum holds (lines without "/go.mod"), in file order. */
export function zipSet(gosum: string): ModuleVersion[] {
  const seen = new Set<string>();
  const out: ModuleVersion[] = [];
  for (const line of gosum.split('\n')) {
    const [p, v] = line.trim().split(/\s+/);
    if (!p || !v || v.endsWith('/go.mod') || seen.has(`${p}@${v}`)) continue;
    seen.add(`${p}@${v}`);
    out.push({ path: p, version: v });
  }
  return out;
}
