import t from 'tap';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  artifactsOf,
  exitCode,
  loadSummary,
  plan,
  saveSummary,
  summarize,
  type Entry,
} from '../../src/prefetch/summary.js';
import { isModgateError } from '../../src/errors.js';
import { testdir } from '../helpers/testdir.js';

const at = '2026-01-01T00:00:00.000Z';
const all = artifactsOf([
  { module: 'example.com/a', version: 'v1.0.0', kinds: ['info', 'mod', 'zip'] },
  { module: 'example.com/b', version: 'v0.1.0', kinds: ['info', 'mod'] },
]);

t.test('resume: fetched entries are kept, refused and failed are asked again', async (t) => {
  const before: Entry[] = [
    { ...all[0]!, status: 'fetched', at },
    { ...all[1]!, status: 'fetched', at },
    { ...all[2]!, status: 'refused', httpStatus: 403, code: 'POLICY_DENIED', at },
    { ...all[3]!, status: 'failed', reason: 'ECONNRESET', at },
  ];
  const { todo, kept } = await plan(all, summarize('https://gw', before));
  t.same(
    kept.map((e) => e.kind),
    ['info', 'mod'],
  );
  t.same(
    todo.map((a) => `${a.module} ${a.kind}`),
    ['example.com/a zip', 'example.com/b info', 'example.com/b mod'],
  );
  const none = await plan(all, undefined);
  t.equal(none.todo.length, 5);
  // keep() can veto: an exported file that is gone is fetched again.
  const vetoed = await plan(all, summarize('https://gw', before), async (e) => e.kind !== 'mod');
  t.same(
    vetoed.kept.map((e) => e.kind),
    ['info'],
  );
});

t.test('counts and exit codes: failed wins over refused', async (t) => {
  const e = (status: Entry['status']): Entry => ({ ...all[0]!, status, at });
  t.equal(exitCode(summarize('g', [e('fetched'), e('fetched')])), 0);
  t.equal(exitCode(summarize('g', [e('fetched'), e('refused')])), 3);
  t.equal(exitCode(summarize('g', [e('refused'), e('failed')])), 2);
  t.same(summarize('g', [e('refused'), e('failed'), e('fetched')]).counts, {
    fetched: 1,
    refused: 1,
    failed: 1,
  });
});

t.test('the summary is written atomically and read back; a foreign file is refused', async (t) => {
  const dir = testdir(t);
  const file = path.join(dir, 'summary.json');
  t.equal(await loadSummary(file), undefined, 'no file: a fresh run');
  const s = summarize('https://gw', [{ ...all[0]!, status: 'fetched', bytes: 3, at }]);
  await saveSummary(file, s);
  t.same(await loadSummary(file), s);
  await saveSummary(file, summarize('https://gw', []));
  t.same(await readdir(dir), ['summary.json'], 'no temporary file left beside it');
  t.same(JSON.parse(await readFile(file, 'utf8')).artifacts, []);
  for (const [text, why] of [
    ['not json', /not JSON/],
    ['{"artifacts": []}', /no "format"/],
    ['{"format": "modgate-prefetch-summary/1", "artifacts": [{"module": "m"}]}', /malformed entry/],
  ] as const) {
    await writeFile(file, text);
    const err = await loadSummary(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(isModgateError(err, 'PREFETCH_SUMMARY_INVALID'), String(err));
    t.match((err as Error).message, why);
    t.equal(await readFile(file, 'utf8'), text, 'a foreign file is left alone');
  }
  await t.rejects(loadSummary(dir), { code: 'EISDIR' });
});
