/**
 * The differential run: generated zips through modgate's verifier and through
 * Go (archive/zip, x/mod's CheckZip, dirhash.HashZip and Unzip's reads, in
 * test/integrity/gozip), compared verdict by verdict and h1 by h1.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { isModgateError } from '../../src/errors.js';
import { verifyModuleZip } from '../../src/integrity/zip.js';
import { repoRoot } from '../helpers/testdata.js';
import { Rng } from './zipgen.js';
import { makeCase } from './zipmutate.js';

const SRC = path.join(repoRoot, 'test', 'integrity', 'gozip');

/** Builds the Go program once per source hash, into a cache folder outside git. */
export async function buildGoZip(): Promise<string> {
  const h = createHash('sha256');
  for (const f of ['main.go', 'go.mod', 'go.sum']) h.update(await readFile(path.join(SRC, f)));
  const dir = path.join(
    repoRoot,
    'node_modules',
    '.cache',
    'modgate-gozip',
    h.digest('hex').slice(0, 16),
  );
  const bin = path.join(dir, 'gozip');
  if (existsSync(bin)) return bin;
  await mkdir(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  await promisify(execFile)('go', ['build', '-mod=readonly', '-o', tmp, '.'], {
    cwd: SRC,
    env: { ...process.env, GOFLAGS: '-mod=readonly', CGO_ENABLED: '0' },
  });
  await (await import('node:fs/promises')).rename(tmp, bin);
  return bin;
}

interface GoVerdict {
  ok: boolean;
  err?: string;
  h1?: string;
}

/** One Go process answering JSON lines in order. */
class GoZip {
  private readonly waiting: Array<(v: GoVerdict) => void> = [];
  private readonly proc;
  constructor(bin: string) {
    this.proc = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.proc.stdout }).on('line', (l) =>
      this.waiting.shift()?.(JSON.parse(l) as GoVerdict),
    );
  }
  check(file: string, mod: { path: string; version: string }): Promise<GoVerdict> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.proc.stdin.write(`${JSON.stringify({ file, ...mod })}\n`);
    });
  }
  async close(): Promise<void> {
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin.end();
    await exited;
  }
}

export interface Disagreement {
  seed: number;
  kinds: string[];
  modgate: string;
  go: string;
}

export interface DiffSummary {
  cases: number;
  bothAccept: number;
  bothReject: number;
  /** Hard failures: modgate accepted what Go refuses, or hashed it differently. */
  unsafe: Disagreement[];
  /** modgate refused what Go accepts (stricter rules), by mutation kind. */
  stricter: Record<string, number>;
  stricterCount: number;
  stricterExamples: Disagreement[];
}

async function modgateVerdict(
  file: string,
  mod: { path: string; version: string },
): Promise<{ ok: boolean; h1?: string; err?: string }> {
  try {
    return { ok: true, h1: (await verifyModuleZip(file, mod)).h1 };
  } catch (err) {
    if (!isModgateError(err)) throw err;
    return { ok: false, err: `${err.code}: ${err.message.split('\n')[0]}` };
  }
}

/** Runs cases seed0 .. seed0+n-1, a batch at a time. */
export async function runDiff(
  seed0: number,
  n: number,
  onProgress?: (done: number) => void,
): Promise<DiffSummary> {
  const go = new GoZip(await buildGoZip());
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-zipdiff-'));
  const sum: DiffSummary = {
    cases: 0,
    bothAccept: 0,
    bothReject: 0,
    unsafe: [],
    stricter: {},
    stricterCount: 0,
    stricterExamples: [],
  };
  const BATCH = 64;
  try {
    for (let base = 0; base < n; base += BATCH) {
      const seeds = Array.from({ length: Math.min(BATCH, n - base) }, (_, k) => seed0 + base + k);
      await Promise.all(
        seeds.map(async (seed) => {
          const c = makeCase(new Rng(seed));
          const file = path.join(dir, `${seed}.zip`);
          await writeFile(file, c.zip);
          const [mine, theirs] = await Promise.all([
            modgateVerdict(file, c.mod),
            go.check(file, c.mod),
          ]);
          await rm(file);
          sum.cases++;
          const d: Disagreement = {
            seed,
            kinds: c.kinds,
            modgate: mine.ok ? `ok ${mine.h1}` : mine.err!,
            go: theirs.ok ? `ok ${theirs.h1}` : theirs.err!,
          };
          if (mine.ok && (!theirs.ok || theirs.h1 !== mine.h1)) sum.unsafe.push(d);
          else if (mine.ok) sum.bothAccept++;
          else if (!theirs.ok) sum.bothReject++;
          else {
            sum.stricterCount++;
            for (const k of c.kinds) sum.stricter[k] = (sum.stricter[k] ?? 0) + 1;
            if (sum.stricterExamples.length < 20) sum.stricterExamples.push(d);
          }
        }),
      );
      onProgress?.(sum.cases);
    }
  } finally {
    await go.close();
    await rm(dir, { recursive: true, force: true });
  }
  return sum;
}
