import { createHash } from 'node:crypto';
import { escapePath, escapeVersion } from '../integrity/module.js';
import type { ArtifactKind } from './paths.js';

/** Storage keys for module data; the store itself knows nothing of modules. */
export function artifactKey(module: string, version: string, kind: ArtifactKind): string {
  return `cache/${escapePath(module)}/@v/${escapeVersion(version)}.${kind}`;
}

export function metaKey(module: string, what: 'list' | 'latest' | { query: string }): string {
  const base = `meta/${escapePath(module)}`;
  if (what === 'list') return `${base}/@v/list.json`;
  if (what === 'latest') return `${base}/@latest.json`;
  return `${base}/@v/query-${createHash('sha256').update(what.query).digest('hex').slice(0, 32)}.json`;
}
