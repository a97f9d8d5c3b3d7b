/**
 * npm run bench [-- SCENARIO...] [--html]: runs each scenario (realworld only
 * when named) in its own process (so that one cannot slow another), prints a
 * table with targets and PASS/MISS, and writes bench/results.json (and
 * bench/report.html with --html).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { root } from './lib.js';
import { html, table, type Report, type Result } from './report.js';

const scenarios: Record<string, () => Promise<Result[] | Report>> = {
  hits: async () => (await import('./scenarios/hits.js')).cachedHits(),
  hotpath: async () => (await import('./scenarios/hotpath.js')).hotPath(),
  cold: async () => (await import('./scenarios/cold.js')).coldFetch(),
  verify: async () => (await import('./scenarios/verify.js')).verifyThroughput(),
  rss: async () => (await import('./scenarios/rss.js')).rssBigZip(),
  bombs: async () => (await import('./scenarios/bombs.js')).bombRss(),
  herd: async () => (await import('./scenarios/concurrency.js')).coldHerd(),
  policy: async () => (await import('./scenarios/policy.js')).policyCost(),
  waivers: async () => (await import('./scenarios/policy-waivers.js')).policyWaivers(),
  vuln: async () => (await import('./scenarios/vuln.js')).vulnIndex(),
  clients: async () => (await import('./scenarios/concurrency.js')).manyClients(),
  s3: async () => (await import('./scenarios/s3.js')).s3Store(),
  realworld: async () => (await import('./scenarios/realworld.js')).realWorld(),
  audit: async () => (await import('./scenarios/audit.js')).auditAppend(),
  routing: async () => (await import('./scenarios/routing.js')).routingTail(),
};

// The real-world graph downloads hundreds of MB five times (and records them first when needed),
// so it runs only when named: npm run bench -- realworld. The audit append figures need a
// PostgreSQL (MODGATE_BENCH_POSTGRES): npm run bench -- audit.
// The hits bench runs every peer for several interleaved rounds (about 5 minutes by default).
const timeouts: Record<string, number> = { realworld: 3_600_000, hits: 1_800_000 };
const onlyWhenNamed = new Set(['realworld', 'audit', 'hotpath']);

function runChild(name: string): Promise<Report> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--expose-gc', fileURLToPath(import.meta.url), '--child', name],
      { maxBuffer: 16 << 20, timeout: timeouts[name] ?? 240_000 },
      (err, stdout, stderr) => {
        if (err)
          return resolve({
            results: [
              {
                id: `${name}.error`,
                label: `${name} failed: ${(stderr || err.message).trim().split('\n').at(-1)}`,
                value: 0,
                unit: '',
              },
            ],
          });
        const out = JSON.parse(stdout) as Result[] | Report;
        resolve(Array.isArray(out) ? { results: out } : out);
      },
    );
    // Progress lines appear as they come (they are also kept for the failure message).
    child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const child = args.indexOf('--child');
  if (child >= 0) {
    process.stdout.write(JSON.stringify(await scenarios[args[child + 1]!]!()));
    return;
  }
  const only = args.filter((a) => !a.startsWith('--'));
  const results: Result[] = [];
  for (const name of Object.keys(scenarios)) {
    if (only.length ? !only.includes(name) : onlyWhenNamed.has(name)) continue;
    process.stderr.write(`bench: ${name}...\n`);
    const report = await runChild(name);
    if (report.text) process.stdout.write(`${report.text}\n\n`);
    results.push(...report.results);
  }
  process.stdout.write(`${table(results)}\n`);
  await writeFile(
    path.join(root, 'bench', 'results.json'),
    `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`,
  );
  if (args.includes('--html')) {
    await writeFile(path.join(root, 'bench', 'report.html'), html(results));
    process.stderr.write('wrote bench/report.html\n');
  }
}

await main();
