/**
 * Several chains in one audit folder: with server.workers, each worker process
 * writes its own chain under <audit.dir>/chains/<replica>/ (the layout of one
 * folder's chain: segments and checkpoints/), so that no lock between
 * processes sits on the request path. The folder's own chain (one process)
 * stays at its root. Readers take every chain: verify judges each one, query,
 * report and export merge them by time.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { REPLICA_RE } from './checkpoint.js';
import { queryAudit, type QueryFilter } from './query.js';
import type { AuditRecord } from './records.js';
import { listSegments } from './segments.js';

export const CHAINS_DIR = 'chains';

export interface Chain {
  /** The writing process's replica id; undefined for the folder's own chain. */
  replica?: string;
  dir: string;
}

/** The folder of a worker's chain. */
export function chainDir(root: string, replica: string): string {
  if (!REPLICA_RE.test(replica)) throw new Error(`unsafe replica id ${JSON.stringify(replica)}`);
  return path.join(root, CHAINS_DIR, replica);
}

/**
 * The chains of an audit folder: the root chain when it holds segments (or
 * when there is no other), then each worker chain by replica id.
 */
export async function listChains(root: string): Promise<Chain[]> {
  const entries = await readdir(path.join(root, CHAINS_DIR), { withFileTypes: true }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    },
  );
  const workers = entries
    .filter((e) => e.isDirectory() && REPLICA_RE.test(e.name))
    .map((e) => e.name)
    .sort()
    .map((replica) => ({ replica, dir: path.join(root, CHAINS_DIR, replica) }));
  const rootHasRecords = (await listSegments(root)).length > 0;
  return rootHasRecords || workers.length === 0 ? [{ dir: root }, ...workers] : workers;
}

type Tagged = AuditRecord & { replica?: string };

/**
 * The records of a folder's chains matching `filter`: in seq order for the
 * folder's own chain alone, else merged by time with each record naming its
 * replica (what `audit query`, `report` and `export` read).
 */
export function chainRecords(chains: readonly Chain[], filter: QueryFilter): AsyncIterable<Tagged> {
  if (!chains.some((c) => c.replica !== undefined))
    return queryAudit(chains[0]?.dir ?? '.', filter);
  return mergeByTime(
    chains.map((c) => ({
      ...(c.replica ? { replica: c.replica } : {}),
      records: queryAudit(c.dir, filter),
    })),
  );
}

/**
 * Merges per-chain record streams (each in seq order, so in time order) into
 * one by time, then replica, then seq, as the PostgreSQL reader orders them.
 * Holds one record per chain.
 */
export async function* mergeByTime(
  streams: Array<{ replica?: string; records: AsyncIterable<AuditRecord> }>,
): AsyncGenerator<Tagged> {
  const its = streams.map((s) => ({ replica: s.replica, it: s.records[Symbol.asyncIterator]() }));
  const heads: Array<Tagged | undefined> = [];
  try {
    for (const [i, s] of its.entries()) heads[i] = await pull(s);
    for (;;) {
      let best = -1;
      for (const [i, h] of heads.entries())
        if (h && (best < 0 || before(h, heads[best]!))) best = i;
      if (best < 0) return;
      yield heads[best]!;
      heads[best] = await pull(its[best]!);
    }
  } finally {
    await Promise.all(its.map((s) => s.it.return?.()));
  }
}

async function pull(s: {
  replica: string | undefined;
  it: AsyncIterator<AuditRecord>;
}): Promise<Tagged | undefined> {
  const n = await s.it.next();
  if (n.done) return undefined;
  return s.replica === undefined ? n.value : { ...n.value, replica: s.replica };
}

function before(a: Tagged, b: Tagged): boolean {
  if (a.time !== b.time) return a.time < b.time;
  const ra = a.replica ?? '';
  const rb = b.replica ?? '';
  if (ra !== rb) return ra < rb;
  return a.seq < b.seq;
}
