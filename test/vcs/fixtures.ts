import path from 'node:path';
import { Repo } from './git-server.js';

export const pkg = (name: string, v: string): string =>
  `package ${name}\n\nconst Version = ${JSON.stringify(v)}\n\nfunc Name() string { return ${JSON.stringify(name)} }\n`;

export interface Repos {
  lib: Repo;
  multi: Repo;
  old: Repo;
  moving: Repo;
  /** The untagged head commit of lib (a pseudo-version). */
  libHead: string;
}

/**
 * The repositories of the vcs tests, under github.com/acme:
 * - lib: v1.0.0, v1.1.0, v1.2.0 (whose go.mod retracts v1.1.0), then an untagged commit;
 * - multi: v1 at the root, v2 in the v2/ subdirectory (module .../multi/v2, tag v2.0.0);
 * - old: no go.mod, tag v2.0.0 (so v2.0.0+incompatible);
 * - moving: v1.0.0, a tag the tests move.
 */
export async function makeRepos(root: string): Promise<Repos> {
  const lib = await Repo.create(root, 'lib');
  for (const v of ['v1.0.0', 'v1.1.0']) {
    await lib.commit({
      'go.mod': 'module github.com/acme/lib\n\ngo 1.21\n',
      'lib.go': pkg('lib', v),
    });
    await lib.tag(v);
  }
  await lib.commit({
    'go.mod': 'module github.com/acme/lib\n\ngo 1.21\n\n// v1.1.0 leaks memory.\nretract v1.1.0\n',
    'lib.go': pkg('lib', 'v1.2.0'),
  });
  await lib.tag('v1.2.0');
  const libHead = await lib.commit({ 'lib.go': pkg('lib', 'head') }, 'untagged');
  await lib.push();

  const multi = await Repo.create(root, 'multi');
  await multi.commit({
    'go.mod': 'module github.com/acme/multi\n\ngo 1.21\n',
    'multi.go': pkg('multi', 'v1'),
    'v2/go.mod': 'module github.com/acme/multi/v2\n\ngo 1.21\n',
    'v2/multi.go': pkg('multi', 'v2.0.0'),
  });
  await multi.tag('v1.0.0');
  await multi.tag('v2.0.0');

  const old = await Repo.create(root, 'old');
  await old.commit({ 'old.go': pkg('old', 'v2.0.0') });
  await old.tag('v2.0.0');

  const moving = await Repo.create(root, 'moving');
  await moving.commit({
    'go.mod': 'module github.com/acme/moving\n\ngo 1.21\n',
    'm.go': pkg('moving', 'first'),
  });
  await moving.tag('v1.0.0');
  return { lib, multi, old, moving, libHead };
}

export const reposRoot = (dir: string): string => path.join(dir, 'git');
