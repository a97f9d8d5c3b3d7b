/** The same cached files, laid out for each server that serves them from disk. */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FakeModule } from '../../src/demo/upstream.js';
import { escapePath, escapeVersion } from '../../src/integrity/module.js';

export interface Artifact {
  kind: 'info' | 'mod' | 'zip';
  /** The GOPROXY request path, without the leading '/'. */
  path: string;
  bytes: Buffer;
  sha256: string;
}

export function artifacts(m: FakeModule): Artifact[] {
  const base = `${escapePath(m.path)}/@v/${escapeVersion(m.version)}`;
  const make = (kind: Artifact['kind'], bytes: Buffer): Artifact => ({
    kind,
    path: `${base}.${kind}`,
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  });
  return [make('info', Buffer.from(m.info)), make('mod', Buffer.from(m.mod)), make('zip', m.zip)];
}

/** A GOPROXY tree (nginx's root, and goproxy's DirCacher, which keys files by request path). */
export async function writeProxyTree(dir: string, m: FakeModule): Promise<void> {
  for (const a of artifacts(m)) {
    await mkdir(path.dirname(path.join(dir, a.path)), { recursive: true });
    await writeFile(path.join(dir, a.path), a.bytes);
  }
  await writeFile(path.join(dir, escapePath(m.path), '@v', 'list'), `${m.version}\n`);
}

/** Athens's disk storage: ROOT/<module>/<version>/{<version>.info, go.mod, source.zip} (pkg/storage/fs). */
export async function writeAthensTree(root: string, m: FakeModule): Promise<void> {
  const dir = path.join(root, m.path, m.version);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${m.version}.info`), m.info);
  await writeFile(path.join(dir, 'go.mod'), m.mod);
  await writeFile(path.join(dir, 'source.zip'), m.zip);
}
