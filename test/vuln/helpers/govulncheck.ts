/**
 * The real govulncheck as a reference: installs it (scripts/install-govulncheck.sh),
 * builds a file GOPROXY of stub modules at chosen versions, and runs
 * `govulncheck -scan module -format json` over a program that imports them.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import yazl from 'yazl';
import { escapePath, escapeVersion } from '../../../src/integrity/module.js';
import { repoRoot } from '../../helpers/testdata.js';
import { goEnv } from '../../helpers/gocmd.js';

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 256 << 20 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

let installed: Promise<string> | undefined;

/** The pinned govulncheck's path (installed on first use, as CI does). */
export function govulncheck(): Promise<string> {
  installed ??= run('bash', [path.join(repoRoot, 'scripts/install-govulncheck.sh')], {
    timeoutMs: 600_000,
  }).then((r) => {
    if (r.code !== 0) throw new Error(`install-govulncheck.sh failed: ${r.stderr}`);
    return r.stdout.trim().split('\n').at(-1)!;
  });
  return installed;
}

function zipOf(files: Record<string, string>): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const [name, body] of Object.entries(files))
    z.addBuffer(Buffer.from(body), name, { mtime: new Date(Date.UTC(2020, 0, 1)) });
  z.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => chunks.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    z.outputStream.on('error', reject);
  });
}

/** Adds module@version (a one-file package at its root) to a file GOPROXY tree. */
export async function addStubModule(proxy: string, mod: string, version: string): Promise<void> {
  const dir = path.join(proxy, escapePath(mod), '@v');
  await mkdir(dir, { recursive: true });
  const ev = escapeVersion(version);
  const incompatible = version.endsWith('+incompatible');
  const gomod = `module ${mod}\n`;
  const files: Record<string, string> = { [`${mod}@${version}/stub.go`]: 'package stub\n' };
  if (!incompatible) files[`${mod}@${version}/go.mod`] = gomod;
  await writeFile(path.join(dir, `${ev}.mod`), gomod);
  await writeFile(
    path.join(dir, `${ev}.info`),
    JSON.stringify({ Version: version, Time: '2020-01-01T00:00:00Z' }),
  );
  await writeFile(path.join(dir, `${ev}.zip`), await zipOf(files));
}

export interface Finding {
  osv: string;
  fixed_version?: string;
  trace: Array<{ module: string; version?: string }>;
}

/** The JSON objects of govulncheck's -format json stream. */
export function parseStream(s: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  let depth = 0;
  let start = 0;
  let inStr = false;
  let esc = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inStr) {
      if (esc) esc = false;
      else if (c === '\\') esc = true;
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) out.push(JSON.parse(s.slice(start, i + 1)));
  }
  return out;
}

/**
 * Runs govulncheck -scan module over a program requiring `reqs` (each served
 * by the stub proxy), with `goVersion` as the standard library's version.
 */
export async function scanModules(opts: {
  dir: string;
  proxy: string;
  db: string;
  reqs: Array<{ module: string; version: string }>;
  goVersion?: string;
  extraEnv?: Record<string, string>;
}): Promise<Finding[]> {
  const bin = await govulncheck();
  await mkdir(opts.dir, { recursive: true });
  const gomod = [
    'module example.com/probe',
    '',
    'go 1.22',
    '',
    'require (',
    ...opts.reqs.map((r) => `\t${r.module} ${r.version}`),
    ')',
    '',
  ].join('\n');
  await writeFile(path.join(opts.dir, 'go.mod'), gomod);
  const imports = opts.reqs.map((r) => `\t_ ${JSON.stringify(r.module)}`).join('\n');
  await writeFile(
    path.join(opts.dir, 'main.go'),
    `package main\n\nimport (\n${imports}\n)\n\nfunc main() {}\n`,
  );
  const env = await goEnv(opts.dir, {
    GOPROXY: `file://${opts.proxy}`,
    GOSUMDB: 'off',
    GOFLAGS: '-mod=mod -modcacherw',
    ...(opts.goVersion ? { GOVERSION: opts.goVersion } : {}),
    ...opts.extraEnv,
  });
  const r = await run(bin, ['-db', opts.db, '-scan', 'module', '-format', 'json'], {
    cwd: opts.dir,
    env,
  });
  if (r.code !== 0) throw new Error(`govulncheck failed (${r.code}): ${r.stderr.slice(0, 2000)}`);
  return parseStream(r.stdout)
    .filter((o) => 'finding' in o)
    .map((o) => o.finding as Finding);
}
