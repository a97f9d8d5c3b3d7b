/**
 * The long differential run of the zip reader against Go:
 *   npm run fuzz:zip -- --n 20000 [--seed 1]
 * Exits non-zero when modgate accepts a zip that Go refuses or hashes
 * differently; also reports the zips modgate refuses and Go accepts.
 */
import { runDiff } from '../test/integrity/zipdiff.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isSafeInteger(v) || v < 0)
    throw new Error(`--${name} must be a non-negative integer`);
  return v;
}

const n = arg('n', 20000);
const seed = arg('seed', 1_000_000);
const t0 = Date.now();
const sum = await runDiff(seed, n, (done) => {
  if (done % 2048 < 64) process.stderr.write(`${done}/${n}\n`);
});
const secs = ((Date.now() - t0) / 1000).toFixed(1);
process.stdout.write(
  `${sum.cases} zips in ${secs} s (seeds ${seed}..${seed + n - 1}): ${sum.bothAccept} accepted by both, ` +
    `${sum.bothReject} refused by both, ${sum.unsafe.length} accepted by modgate but refused or hashed differently by Go, ` +
    `${sum.stricterCount} refused by modgate only (stricter rules)\n`,
);
process.stdout.write(`refused by modgate only, by mutation: ${JSON.stringify(sum.stricter)}\n`);
for (const d of sum.stricterExamples) process.stdout.write(`  stricter: ${JSON.stringify(d)}\n`);
for (const d of sum.unsafe) process.stdout.write(`UNSAFE: ${JSON.stringify(d)}\n`);
process.exitCode = sum.unsafe.length ? 1 : 0;
