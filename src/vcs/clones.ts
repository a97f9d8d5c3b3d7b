/**
 * The clone cache of a vcs route: the go command keeps one bare clone per
 * repository under GOMODCACHE/cache/vcs/<hash>. modgate bounds it: a clone
 * over the size cap is deleted, and beyond `keep` clones the least recently
 * fetched go first.
 */
import { lstat, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** Bytes under dir, walking at most until `stopAt` is passed. */
export async function sizeUpTo(dir: string, stopAt: number): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0 && total <= stopAt) {
    const d = stack.pop()!;
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) total += (await lstat(p).catch(() => ({ size: 0 }))).size;
    }
  }
  return total;
}

async function clones(vcsDir: string): Promise<string[]> {
  const entries = await readdir(vcsDir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && /^[0-9a-f]{64}$/.test(e.name)).map((e) => e.name);
}

/** The first clone bigger than max bytes, if any. */
export async function oversizedClone(vcsDir: string, max: number): Promise<string | undefined> {
  for (const c of await clones(vcsDir)) {
    if ((await sizeUpTo(path.join(vcsDir, c), max)) > max) return c;
  }
  return undefined;
}

/** Deletes one clone with the files the go command keeps beside it. */
export async function removeClone(vcsDir: string, name: string): Promise<void> {
  await rm(path.join(vcsDir, name), { recursive: true, force: true });
  await rm(path.join(vcsDir, `${name}.info`), { force: true });
  await rm(path.join(vcsDir, `${name}.lock`), { force: true });
}

/** Keeps the `keep` most recently fetched clones; returns how many were removed. */
export async function evictClones(vcsDir: string, keep: number): Promise<number> {
  const all = await clones(vcsDir);
  if (all.length <= keep) return 0;
  const dated = await Promise.all(
    all.map(async (c) => {
      const times = await Promise.all(
        [c, path.join(c, 'FETCH_HEAD'), path.join(c, 'packed-refs'), `${c}.info`].map((p) =>
          stat(path.join(vcsDir, p)).then(
            (s) => s.mtimeMs,
            () => 0,
          ),
        ),
      );
      return { c, t: Math.max(...times) };
    }),
  );
  dated.sort((a, b) => b.t - a.t);
  const gone = dated.slice(keep);
  for (const { c } of gone) await removeClone(vcsDir, c);
  return gone.length;
}
