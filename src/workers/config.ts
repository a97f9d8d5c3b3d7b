/**
 * How many server processes a config asks for, and each worker's own view of
 * the config: what must be unique per live process (the replica id that names
 * lease holders and audit chains, the audit folder of an fs chain, the disk
 * cache in front of S3) is derived from its slot. The rest is shared.
 */
import os from 'node:os';
import path from 'node:path';
import { chainDir } from '../audit/chains.js';
import type { ModgateConfig } from '../config/types.js';
import { replicaIdOf } from '../state/open.js';

/** server.workers, with 0 (auto) meaning one per core when there is more than one. */
export function workerCount(config: ModgateConfig, cores = os.availableParallelism()): number {
  if (config.server.workers > 0) return config.server.workers;
  return cores > 1 ? cores : 1;
}

/** A worker's replica id: the node's, with its slot (slots are 1..N and survive restarts). */
export function workerReplicaId(config: ModgateConfig, slot: number): string {
  return `${replicaIdOf(config).slice(0, 120)}-w${slot}`;
}

/** The audit folder the primary's config names (before any worker rewrite). */
function rootAuditDir(config: ModgateConfig): string {
  return config.audit.dir ?? path.join(config.dataDir, 'audit');
}

export function workerConfig(config: ModgateConfig, slot: number, count: number): ModgateConfig {
  const c = structuredClone(config);
  const replica = workerReplicaId(config, slot);
  c.cluster = { ...c.cluster, replicaId: replica };
  if (c.audit.store === 'fs')
    c.audit = { ...c.audit, dir: chainDir(rootAuditDir(config), replica) };
  const cache = c.storage.diskCache;
  if (c.storage.kind === 's3' && cache.maxBytes > 0) {
    // The disk cache keeps its index in memory: one folder per process, a share of the budget each.
    c.storage.diskCache = {
      ...cache,
      dir: path.join(cache.dir ?? path.join(c.dataDir, 's3-cache'), `w${slot}`),
      maxBytes: Math.max(1, Math.floor(cache.maxBytes / count)),
    };
  }
  return c;
}
