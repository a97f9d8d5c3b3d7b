import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { verifyModuleZip } from '../../src/integrity/zip.js';
import { tinyZip } from './zipgen.js';
import { buildGoZip, runDiff } from './zipdiff.js';
import { spawnSync } from 'node:child_process';
import { testdir } from '../helpers/testdir.js';

// A fixed seed set: the same zips on every run. `npm run fuzz:zip` runs longer sets.
const SEED = 1;
const CASES = 4000;

t.test(
  `modgate never accepts a zip Go refuses or hashes differently (${CASES} zips)`,
  async (t) => {
    const sum = await runDiff(SEED, CASES);
    t.equal(sum.cases, CASES);
    t.same(sum.unsafe, [], 'no zip accepted by modgate that Go refuses or hashes differently');
    // The set must exercise both sides, or agreement would mean nothing.
    t.ok(sum.bothAccept >= CASES / 10, `${sum.bothAccept} zips accepted by both`);
    t.ok(sum.bothReject >= CASES / 4, `${sum.bothReject} zips refused by both`);
    t.comment(`refused by modgate only: ${sum.stricterCount} (${JSON.stringify(sum.stricter)})`);
    for (const d of sum.stricterExamples.slice(0, 5)) t.comment(JSON.stringify(d));
  },
);

t.test(
  'a zip with ZIP64 end records (65,536 entries, as Go writes it) verifies as in Go',
  async (t) => {
    const mod = { path: 'example.com/big', version: 'v1.0.0' };
    const file = path.join(testdir(t), 'zip64.zip');
    await writeFile(file, tinyZip(`${mod.path}@${mod.version}/`, 65536));
    const rep = await verifyModuleZip(file, mod);
    t.equal(rep.fileCount, 65536);
    const go = spawnSync(await buildGoZip(), [], {
      input: `${JSON.stringify({ file, ...mod })}\n`,
      encoding: 'utf8',
    });
    const verdict = JSON.parse(go.stdout) as { ok: boolean; h1?: string; err?: string };
    t.same(verdict, { ok: true, h1: rep.h1 }, 'Go accepts it with the same h1');
  },
);
