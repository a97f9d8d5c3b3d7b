import { Readable } from 'node:stream';
import t from 'tap';
import { ModgateError } from '../../src/errors.js';
import type { ArtifactHit, ArtifactService } from '../../src/goproxy/artifacts.js';
import { RequestBudget, currentBudget } from '../../src/goproxy/budget.js';
import { FactsService } from '../../src/goproxy/facts.js';
import type { ArtifactKind } from '../../src/goproxy/paths.js';
import type { MetadataService, MetaResult } from '../../src/goproxy/metadata.js';
import { TaskSet } from '../../src/goproxy/tasks.js';

const M = 'example.com/m';

function hit(module: string, version: string, kind: ArtifactKind, body: Buffer): ArtifactHit {
  return {
    key: `${module}@${version}.${kind}`,
    info: { size: body.length, mtimeMs: 0 },
    evidence: {
      kind,
      module,
      version,
      upstream: 'https://upstream.test',
      sha256: 'x',
      size: body.length,
      fetchedAt: '2026-01-01T00:00:00Z',
    },
    cache: 'miss',
    body,
    open: async () => Readable.from([body]),
  };
}

/**
 * Artifacts and metadata from memory, counting calls. A value that is an Error
 * is thrown by get(); peek() finds nothing so every .info is a fetch.
 */
function fakes(opts: {
  list: string;
  infos: Record<string, string | Error>;
  mods: Record<string, string>;
}) {
  const gets: string[] = [];
  const lists: string[] = [];
  const artifacts: Pick<ArtifactService, 'get' | 'peek'> = {
    async get(module, version, kind) {
      gets.push(`${module}@${version}.${kind}`);
      const v = kind === 'info' ? opts.infos[version] : opts.mods[version];
      if (v === undefined) throw new ModgateError('UPSTREAM_NOT_FOUND', `${version}.${kind}`);
      if (v instanceof Error) throw v;
      return hit(module, version, kind, Buffer.from(v));
    },
    async peek() {
      return null;
    },
  };
  const metadata: Pick<MetadataService, 'get'> = {
    async get(req) {
      lists.push(`${req.module} ${req.kind}`);
      const r: MetaResult = {
        body: opts.list,
        upstream: 'https://upstream.test',
        fetchedAt: 0,
        status: 200,
        cache: 'miss',
      };
      return r;
    },
  };
  const tasks = new TaskSet();
  const facts = new FactsService(artifacts as ArtifactService, metadata as MetadataService, {
    ttlMs: 60_000,
    listConcurrency: 2,
    tasks,
  });
  return { facts, gets, lists, tasks };
}

const info = (v: string, time: string) => JSON.stringify({ Version: v, Time: time });
const GOMOD = `module ${M}\n\nretract v1.1.0 // broken\n`;

t.test(
  "a version's publish time is its .info Time; retraction comes from the latest go.mod",
  async (t) => {
    const f = fakes({
      list: 'v1.0.0\nv1.1.0\nv1.2.0\nv1.3.0-rc.1\n',
      infos: {
        'v1.0.0': info('v1.0.0', '2024-05-06T07:08:09Z'),
        'v1.1.0': info('v1.1.0', '2024-06-01T00:00:00Z'),
      },
      mods: { 'v1.2.0': GOMOD },
    });
    t.same(await f.facts.forVersion(M, 'v1.0.0'), {
      publishTime: '2024-05-06T07:08:09Z',
      retracted: false,
    });
    t.same(await f.facts.forVersion(M, 'v1.1.0'), {
      publishTime: '2024-06-01T00:00:00Z',
      retracted: true,
    });
    // The go.mod read is the highest release's (v1.2.0), not the prerelease's.
    t.same(
      f.gets.filter((g) => g.endsWith('.mod')),
      [`${M}@v1.2.0.mod`],
    );
    t.same(f.lists, [`${M} list`], 'the module facts were gathered once for both versions');
    // Publish times are kept: asking again makes no new fetch.
    const before = f.gets.length;
    t.same(await f.facts.forVersion(M, 'v1.0.0'), {
      publishTime: '2024-05-06T07:08:09Z',
      retracted: false,
    });
    t.equal(f.gets.length, before);
  },
);

t.test('an .info without a valid Time gives no publish time', async (t) => {
  const f = fakes({
    list: 'v1.0.0\n',
    infos: { 'v1.0.0': '{"Version":"v1.0.0","Time":42}' },
    mods: { 'v1.0.0': `module ${M}\n` },
  });
  const facts = await f.facts.forVersion(M, 'v1.0.0');
  t.notOk('publishTime' in facts);
  t.equal(facts.retracted, false);
});

t.test('list facts gather the module facts once and each .info once', async (t) => {
  const versions = ['v1.0.0', 'v1.1.0', 'v1.2.0'];
  const f = fakes({
    list: versions.join('\n'),
    infos: Object.fromEntries(versions.map((v, i) => [v, info(v, `2024-0${i + 1}-01T00:00:00Z`)])),
    mods: { 'v1.2.0': GOMOD },
  });
  const out = await f.facts.forList(M, versions);
  t.same(Object.fromEntries(out), {
    'v1.0.0': { publishTime: '2024-01-01T00:00:00Z', retracted: false },
    'v1.1.0': { publishTime: '2024-02-01T00:00:00Z', retracted: true },
    'v1.2.0': { publishTime: '2024-03-01T00:00:00Z', retracted: false },
  });
  t.same(f.lists, [`${M} list`]);
  t.same([...f.gets].sort(), [
    `${M}@v1.0.0.info`,
    `${M}@v1.1.0.info`,
    `${M}@v1.2.0.info`,
    `${M}@v1.2.0.mod`,
  ]);
  // A second list, and the versions' own facts, reuse what was gathered.
  const again = await f.facts.forList(M, versions);
  t.same(Object.fromEntries(again), Object.fromEntries(out));
  t.same(await f.facts.forVersion(M, 'v1.1.0'), {
    publishTime: '2024-02-01T00:00:00Z',
    retracted: true,
  });
  t.equal(f.gets.length, 4, 'no new artifact fetch');
  t.equal(f.lists.length, 1, 'no new list fetch');
});

t.test('versions beyond the request budget are hidden, not passed without facts', async (t) => {
  const versions = ['v1.0.0', 'v1.1.0', 'v1.2.0', 'v1.3.0'];
  const f = fakes({
    list: versions.join('\n'),
    infos: Object.fromEntries(versions.map((v) => [v, info(v, '2024-01-01T00:00:00Z')])),
    mods: { 'v1.3.0': `module ${M}\n` },
  });
  // Two fetches for the module facts (list and go.mod), two for .info files.
  const budget = new RequestBudget(4, 60_000);
  const out = await currentBudget.run(budget, () => f.facts.forList(M, versions));
  t.equal(out.size, 2);
  t.equal(budget.hidden.size, 2);
  for (const v of versions) t.ok(out.has(v) !== budget.hidden.has(v), `${v} is listed xor hidden`);
  for (const v of out.keys()) t.equal(out.get(v)!.publishTime, '2024-01-01T00:00:00Z');
  t.equal(f.gets.filter((g) => g.endsWith('.info')).length, 2, 'no fetch beyond the budget');
});

t.test('an aborted budget hides every version it has no facts for', async (t) => {
  const versions = ['v1.0.0', 'v1.1.0'];
  const f = fakes({
    list: versions.join('\n'),
    infos: Object.fromEntries(versions.map((v) => [v, info(v, '2024-01-01T00:00:00Z')])),
    mods: {},
  });
  const ctl = new AbortController();
  ctl.abort();
  const budget = new RequestBudget(100, 60_000, ctl.signal);
  const out = await currentBudget.run(budget, () => f.facts.forList(M, versions));
  t.equal(out.size, 0);
  t.same([...budget.hidden].sort(), versions);
  t.same(f.gets, [], 'nothing was fetched');
  t.same(f.lists, [], 'no list was fetched');
});

t.test(
  'a version whose .info fails has no publish time and is fetched again next time',
  async (t) => {
    const f = fakes({
      list: 'v1.0.0\nv1.1.0\n',
      infos: {
        'v1.0.0': new ModgateError('CHECKSUM_MISMATCH', 'refused'),
        'v1.1.0': info('v1.1.0', '2024-01-01T00:00:00Z'),
      },
      mods: { 'v1.1.0': `module ${M}\n` },
    });
    const one = await f.facts.forVersion(M, 'v1.0.0');
    t.same(one, { retracted: false }, 'no publish time: an age rule cannot count it as old');
    const list = await f.facts.forList(M, ['v1.0.0', 'v1.1.0']);
    t.same(list.get('v1.0.0'), { retracted: false });
    t.equal(list.get('v1.1.0')!.publishTime, '2024-01-01T00:00:00Z');
    t.equal(
      f.gets.filter((g) => g === `${M}@v1.0.0.info`).length,
      2,
      'a failure is not remembered as a fact',
    );
  },
);

t.test('an unexpected failure propagates instead of being taken as empty facts', async (t) => {
  const f = fakes({
    list: 'v1.0.0\n',
    infos: { 'v1.0.0': new TypeError('bug') },
    mods: { 'v1.0.0': `module ${M}\n` },
  });
  await t.rejects(f.facts.forVersion(M, 'v1.0.0'), TypeError);
  await t.rejects(f.facts.forList(M, ['v1.0.0']), TypeError);
});

t.test('prefetch gathers the facts of a version as a background task', async (t) => {
  const f = fakes({
    list: 'v1.0.0\n',
    infos: { 'v1.0.0': info('v1.0.0', '2024-01-01T00:00:00Z') },
    mods: { 'v1.0.0': `module ${M}\n` },
  });
  t.same(f.facts.known(M, 'v1.0.0'), {}, 'nothing known before');
  f.facts.prefetch(M, 'v1.0.0', new AbortController().signal);
  t.ok(f.tasks.size > 0, 'tracked as a background task');
  // The fakes ignore the abort: closing waits for the prefetch to finish.
  await f.tasks.close();
  t.equal(f.gets.length, 2);
  t.same(f.facts.known(M, 'v1.0.0'), { publishTime: '2024-01-01T00:00:00Z', retracted: false });
});

t.test('known() answers from what was gathered, without any fetch', async (t) => {
  const f = fakes({
    list: 'v1.0.0\nv1.1.0\n',
    infos: { 'v1.0.0': info('v1.0.0', '2024-01-01T00:00:00Z') },
    mods: { 'v1.1.0': `// Deprecated: use example.com/m2\nmodule ${M}\n\nretract v1.0.0\n` },
  });
  t.same(f.facts.known(M, 'v1.0.0'), {});
  await f.facts.forVersion(M, 'v1.0.0');
  const calls = f.gets.length + f.lists.length;
  t.same(f.facts.known(M, 'v1.0.0'), {
    publishTime: '2024-01-01T00:00:00Z',
    retracted: true,
    deprecated: 'use example.com/m2',
  });
  // Another version of the module: its module facts are known, its publish time is not.
  t.same(f.facts.known(M, 'v1.1.0'), { retracted: false, deprecated: 'use example.com/m2' });
  t.equal(f.gets.length + f.lists.length, calls, 'no fetch');
});

t.test('only the facts asked for are gathered', async (t) => {
  const versions = ['v1.0.0', 'v1.1.0'];
  const mk = () =>
    fakes({
      list: versions.join('\n'),
      infos: Object.fromEntries(versions.map((v) => [v, info(v, '2024-01-01T00:00:00Z')])),
      mods: { 'v1.1.0': `module ${M}\n\nretract v1.0.0\n` },
    });
  const time = mk();
  t.same(await time.facts.forVersion(M, 'v1.0.0', undefined, new Set(['publishTime'])), {
    publishTime: '2024-01-01T00:00:00Z',
  });
  t.same(time.lists, [], 'no list for a publish time');
  t.same(time.gets, [`${M}@v1.0.0.info`]);
  const retraction = mk();
  t.same(await retraction.facts.forVersion(M, 'v1.0.0', undefined, new Set(['retracted'])), {
    retracted: true,
  });
  t.same(retraction.gets, [`${M}@v1.1.0.mod`], 'no .info for a retraction');
  const list = mk();
  const facts = await list.facts.forList(M, versions, new Set(['retracted']));
  t.same(Object.fromEntries(facts), {
    'v1.0.0': { retracted: true },
    'v1.1.0': { retracted: false },
  });
  t.notOk(
    list.gets.some((g) => g.endsWith('.info')),
    'a list needing retractions fetches no .info',
  );
  const none = mk();
  t.same(Object.fromEntries(await none.facts.forList(M, versions, new Set())), {
    'v1.0.0': {},
    'v1.1.0': {},
  });
  t.equal(none.gets.length + none.lists.length, 0, 'nothing needed, nothing fetched');
});

t.test('concurrent versions of one module share one gathering of its module facts', async (t) => {
  const versions = Array.from({ length: 20 }, (_, i) => `v1.0.${i}`);
  const f = fakes({
    list: versions.join('\n'),
    infos: Object.fromEntries(versions.map((v) => [v, info(v, '2024-01-01T00:00:00Z')])),
    mods: { 'v1.0.19': `module ${M}\n\nretract v1.0.3\n` },
  });
  const all = await Promise.all(versions.map((v) => f.facts.forVersion(M, v)));
  t.same(f.lists, [`${M} list`], 'one list for 20 versions asked at once');
  t.equal(f.gets.filter((g) => g.endsWith('.mod')).length, 1, 'one go.mod');
  t.same(
    all.map((x) => x.retracted),
    versions.map((v) => v === 'v1.0.3'),
  );
});

t.test('a version that stops waiting leaves the shared gathering to the others', async (t) => {
  const f = fakes({
    list: 'v1.0.0\nv1.1.0\n',
    infos: {
      'v1.0.0': info('v1.0.0', '2024-01-01T00:00:00Z'),
      'v1.1.0': info('v1.1.0', '2024-01-01T00:00:00Z'),
    },
    mods: { 'v1.1.0': `module ${M}\n` },
  });
  const gone = new AbortController();
  gone.abort(new Error('client gone'));
  const left = f.facts.forVersion(M, 'v1.0.0', gone.signal, new Set(['retracted']));
  const stayed = f.facts.forVersion(M, 'v1.1.0', undefined, new Set(['retracted']));
  t.same(await left, {}, 'the one that left gets nothing');
  t.same(await stayed, { retracted: false }, 'the other gets the facts');
  t.same(f.lists, [`${M} list`]);
});
