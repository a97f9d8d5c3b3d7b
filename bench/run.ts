import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { root } from './lib.js';
import { html, table, type Result } from './report.js';
import { rssBigZip } from './scenarios/rss.js';
import { cachedHits } from './scenarios/hits.js';
import { coldFetch } from './scenarios/cold.js';
import { verifyThroughput } from './scenarios/verify.js';

const scenarios: Record<string, () => Promise<Result[]>> = {
  hits: () => cachedHits(),
  cold: () => coldFetch(),
  verify: () => verifyThroughput(),
  rss: () => rssBigZip(),
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = args.filter((a) => !a.startsWith('--'));
  const results: Result[] = [];
  for (const [name, run] of Object.entries(scenarios)) {
    if (only.length && !only.includes(name)) continue;
    process.stderr.write(`bench: ${name}...\n`);
    try {
      results.push(...(await run()));
    } catch (err) {
      results.push({
        id: `${name}.error`,
        label: `${name} failed: ${(err as Error).message}`,
        value: 0,
        unit: '',
      });
    }
  }
  process.stdout.write(`${table(results)}\n`);
  await writeFile(
    path.join(root, 'bench', 'results.json'),
    `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`,
  );
  if (args.includes('--html'))
    await writeFile(path.join(root, 'bench', 'report.html'), html(results));
}

await main();
