import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import yauzl from 'yauzl';
import { isModgateError } from '../../src/errors.js';
import { verifyModuleZip } from '../../src/integrity/zip.js';
import { startGitServer, TOKEN, type GitServer } from './git-server.js';
import { makeRepos, type Repos } from './fixtures.js';
import { fetchText, makeSource, tokenCredentials } from './helpers.js';
import type { VcsSource } from '../../src/vcs/source.js';

t.setTimeout(600_000);

let dir: string;
let server: GitServer;
let repos: Repos;
let src: VcsSource;
let spawned = 0;

t.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-vcs-src-'));
  server = await startGitServer(path.join(dir, 'git'));
  repos = await makeRepos(server.root);
  src = await makeSource(
    server,
    { credentials: tokenCredentials(server) },
    { onSpawn: () => spawned++ },
  );
});
t.teardown(async () => {
  await src.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const M = 'github.com/acme/lib';

t.test('list holds every tag, retracted ones too (the go command filters)', async (t) => {
  const r = await fetchText(src, { kind: 'list', module: M });
  t.equal(r.status, 200);
  t.equal(r.text, 'v1.0.0\nv1.1.0\nv1.2.0\n');
  t.equal(r.upstream, 'vcs:github.com/acme');
});

t.test('latest, a branch query and a tag .info', async (t) => {
  const latest = JSON.parse((await fetchText(src, { kind: 'latest', module: M })).text);
  t.equal(latest.Version, 'v1.2.0');
  const head = JSON.parse((await fetchText(src, { kind: 'query', module: M, query: 'main' })).text);
  t.match(
    head.Version,
    /^v1\.2\.1-0\.20260104100000-[0-9a-f]{12}$/,
    'a pseudo-version for the untagged head',
  );
  t.equal(head.Version.slice(-12), repos.libHead.slice(0, 12));
  const info = JSON.parse(
    (await fetchText(src, { kind: 'info', module: M, version: 'v1.0.0' })).text,
  );
  t.same(Object.keys(info).sort(), ['Time', 'Version']);
  t.equal(info.Version, 'v1.0.0');
});

t.test('.mod of the retracting release, and a zip that passes the zip rules', async (t) => {
  const mod = await fetchText(src, { kind: 'mod', module: M, version: 'v1.2.0' });
  t.match(mod.text, /retract v1\.1\.0/);
  const res = await src.get(
    { kind: 'zip', module: M, version: 'v1.0.0' },
    AbortSignal.timeout(120_000),
  );
  const file = path.join(dir, 'lib.zip');
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  await writeFile(file, Buffer.concat(chunks));
  const report = await verifyModuleZip(file, { path: M, version: 'v1.0.0' });
  t.match(report.h1, /^h1:/);
  t.equal(report.fileCount, 2);
});

t.test('a pseudo-version zip, a /v2 subdirectory and +incompatible', async (t) => {
  const head = JSON.parse((await fetchText(src, { kind: 'query', module: M, query: 'main' })).text);
  const z = await src.get(
    { kind: 'zip', module: M, version: head.Version },
    AbortSignal.timeout(120_000),
  );
  const names = await zipNames(z.body);
  t.ok(names.includes(`${M}@${head.Version}/lib.go`));
  const v2 = await fetchText(src, {
    kind: 'mod',
    module: 'github.com/acme/multi/v2',
    version: 'v2.0.0',
  });
  t.equal(v2.text, 'module github.com/acme/multi/v2\n\ngo 1.21\n');
  const v2zip = await src.get(
    { kind: 'zip', module: 'github.com/acme/multi/v2', version: 'v2.0.0' },
    AbortSignal.timeout(120_000),
  );
  t.same((await zipNames(v2zip.body)).sort(), [
    'github.com/acme/multi/v2@v2.0.0/go.mod',
    'github.com/acme/multi/v2@v2.0.0/multi.go',
  ]);
  const old = await fetchText(src, { kind: 'list', module: 'github.com/acme/old' });
  t.equal(old.text, 'v2.0.0+incompatible\n');
  const oldMod = await fetchText(src, {
    kind: 'mod',
    module: 'github.com/acme/old',
    version: 'v2.0.0+incompatible',
  });
  t.equal(oldMod.text, 'module github.com/acme/old\n', 'the go command synthesizes the go.mod');
});

t.test('unknown versions and repositories are 404, so clients may fall back', async (t) => {
  const v = await fetchText(src, { kind: 'info', module: M, version: 'v9.9.9' });
  t.equal(v.status, 404);
  t.match(v.text, /unknown revision v9\.9\.9/);
  const repo = await fetchText(src, { kind: 'list', module: 'github.com/acme/nosuch' });
  t.equal(repo.status, 404);
  t.notMatch(repo.text, TOKEN);
  t.notMatch(repo.text, dir, 'no private folder in the text');
});

t.test('single-flight: concurrent requests for one artifact run one go command', async (t) => {
  const before = spawned;
  const req = { kind: 'mod' as const, module: 'github.com/acme/multi', version: 'v1.0.0' };
  const all = await Promise.all([1, 2, 3, 4].map(() => fetchText(src, req)));
  for (const r of all) t.equal(r.text, 'module github.com/acme/multi\n\ngo 1.21\n');
  t.equal(spawned - before, 1);
});

t.test('runs leave nothing behind in the route folder', async (t) => {
  const runs = await readdir(path.join((src as unknown as { o: { dir: string } }).o.dir, 'runs'));
  t.same(runs, []);
});

t.test('hostile requests are refused before any process starts', async (t) => {
  const before = spawned;
  for (const req of [
    { kind: 'list' as const, module: '-oProxyCommand=evil' },
    { kind: 'list' as const, module: 'github.com/acme/../etc' },
    { kind: 'zip' as const, module: M, version: 'v1.0' },
    { kind: 'query' as const, module: M, query: '--upload-pack=touch' },
    { kind: 'query' as const, module: M, query: 'main;id' },
  ]) {
    await t.rejects(src.get(req, AbortSignal.timeout(5000)), { code: 'REQUEST_INVALID' });
  }
  t.equal(spawned, before);
});

t.test('wrong credentials: VCS_AUTH_FAILED naming the route, without the token', async (t) => {
  const wrong = 'wrong-token-abcdef-987654';
  const bad = await makeSource(server, { credentials: tokenCredentials(server, wrong) });
  t.teardown(() => bad.close());
  const err = await bad
    .get({ kind: 'list', module: M }, AbortSignal.timeout(120_000))
    .catch((e: unknown) => e);
  t.ok(isModgateError(err, 'VCS_AUTH_FAILED'), String(err));
  const text = `${(err as Error).message} ${JSON.stringify((err as { details?: unknown }).details)}`;
  t.match(text, /route github\.com\/acme/);
  t.match(text, /git\.credentials/);
  t.notMatch(text, wrong);
  t.notMatch(text, TOKEN);
});

async function zipNames(body: AsyncIterable<unknown>): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  const zip = await new Promise<yauzl.ZipFile>((res, rej) =>
    yauzl.fromBuffer(Buffer.concat(chunks), { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z))),
  );
  const names: string[] = [];
  await new Promise<void>((res, rej) => {
    zip.on('entry', (e: yauzl.Entry) => {
      names.push(e.fileName);
      zip.readEntry();
    });
    zip.on('end', res);
    zip.on('error', rej);
    zip.readEntry();
  });
  return names;
}
