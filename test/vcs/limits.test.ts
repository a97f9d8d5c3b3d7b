import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { isModgateError } from '../../src/errors.js';
import { startGitServer, type GitServer } from './git-server.js';
import { makeRepos } from './fixtures.js';
import { fetchText, makeSource, tokenCredentials } from './helpers.js';

t.setTimeout(600_000);

let dir: string;
let server: GitServer;

t.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-vcs-limits-'));
  server = await startGitServer(path.join(dir, 'git'));
  await makeRepos(server.root);
});
t.teardown(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Live (not zombie) processes of a process group, read from /proc. */
async function liveInGroup(pgid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[2]) === pgid && rest[0] !== 'Z') pids.push(Number(name));
  }
  return pids;
}

function aliveSync(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

t.test('a timeout kills go and the git it started: VCS_TIMEOUT, the group gone', async (t) => {
  const groups: number[] = [];
  const src = await makeSource(
    server,
    { credentials: tokenCredentials(server), timeoutMs: 4000 },
    { onSpawn: (g) => groups.push(g) },
  );
  t.teardown(() => src.close());
  server.hold = '/acme/moving';
  t.teardown(() => {
    server.hold = undefined;
  });
  const pending = src.get(
    { kind: 'list', module: 'github.com/acme/moving' },
    AbortSignal.timeout(120_000),
  );
  // Wait until git itself is blocked on the server, so the kill has a git to kill.
  for (let i = 0; i < 600 && server.held === 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(server.held > 0, 'git reached the held server');
  const pgid = groups[0]!;
  t.ok((await liveInGroup(pgid)).length >= 2, 'go and git run in one process group');
  const err = await pending.catch((e: unknown) => e);
  t.ok(isModgateError(err, 'VCS_TIMEOUT'), String(err));
  let live = await liveInGroup(pgid);
  for (let i = 0; i < 100 && live.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    live = await liveInGroup(pgid);
  }
  t.same(live, [], 'no process of the group is left');
  t.equal(src.active, 0);
});

t.test('a cancelled request kills its go command', async (t) => {
  const groups: number[] = [];
  const src = await makeSource(
    server,
    { credentials: tokenCredentials(server) },
    { onSpawn: (g) => groups.push(g) },
  );
  t.teardown(() => src.close());
  server.hold = '/acme/moving';
  t.teardown(() => {
    server.hold = undefined;
  });
  const ctl = new AbortController();
  const before = server.held;
  const pending = src.get({ kind: 'list', module: 'github.com/acme/moving' }, ctl.signal);
  for (let i = 0; i < 600 && server.held === before; i++)
    await new Promise((r) => setTimeout(r, 100));
  ctl.abort(new Error('client went away'));
  await t.rejects(pending, { message: 'client went away' });
  let live = await liveInGroup(groups[0]!);
  for (let i = 0; i < 100 && live.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    live = await liveInGroup(groups[0]!);
  }
  t.same(live, []);
});

t.test('the concurrency cap: no more go commands at once than the route allows', async (t) => {
  const groups: number[] = [];
  let overlaps = 0;
  const src = await makeSource(
    server,
    { credentials: tokenCredentials(server), concurrency: 1 },
    {
      onSpawn: (g) => {
        // At each start, every earlier go command must have ended.
        for (const old of groups) if (aliveSync(old)) overlaps++;
        groups.push(g);
      },
    },
  );
  t.teardown(() => src.close());
  const mods = ['lib', 'multi', 'old', 'moving'].map((n) => `github.com/acme/${n}`);
  const all = await Promise.all(mods.map((m) => fetchText(src, { kind: 'list', module: m })));
  t.same(
    all.map((r) => r.status),
    [200, 200, 200, 200],
  );
  t.equal(groups.length, 4);
  t.equal(overlaps, 0);
});

t.test('the clone cache keeps at most cacheRepos clones', async (t) => {
  const routeDir = path.join(dir, 'route-evict');
  const src = await makeSource(
    server,
    { credentials: tokenCredentials(server), cacheRepos: 2, concurrency: 1 },
    { dir: routeDir },
  );
  t.teardown(() => src.close());
  for (const n of ['lib', 'multi', 'old', 'moving'])
    t.equal((await fetchText(src, { kind: 'list', module: `github.com/acme/${n}` })).status, 200);
  // Eviction runs once the route is idle, after the last run.
  const clones = async () =>
    (await readdir(path.join(routeDir, 'vcs'))).filter((n) => /^[0-9a-f]{64}$/.test(n));
  let n = await clones();
  for (let i = 0; i < 100 && n.length > 2; i++) {
    await new Promise((r) => setTimeout(r, 50));
    n = await clones();
  }
  t.equal(n.length, 2);
});

t.test('a clone over maxRepoBytes is refused and deleted', async (t) => {
  const routeDir = path.join(dir, 'route-big');
  const src = await makeSource(
    server,
    { credentials: tokenCredentials(server), maxRepoBytes: 1024 },
    { dir: routeDir },
  );
  t.teardown(() => src.close());
  const err = await src
    .get(
      { kind: 'zip', module: 'github.com/acme/lib', version: 'v1.0.0' },
      AbortSignal.timeout(120_000),
    )
    .then(
      async (res) => {
        await res.body.dump();
        return undefined;
      },
      (e: unknown) => e,
    );
  // A small clone may finish before the watchdog looks; then the check after the run deletes it.
  if (err !== undefined) t.ok(isModgateError(err, 'VCS_TOO_LARGE'), String(err));
  let left = (await readdir(path.join(routeDir, 'vcs'))).filter((n) => /^[0-9a-f]{64}$/.test(n));
  for (let i = 0; i < 100 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    left = (await readdir(path.join(routeDir, 'vcs'))).filter((n) => /^[0-9a-f]{64}$/.test(n));
  }
  t.same(left, [], 'the oversized clone is gone');
});
