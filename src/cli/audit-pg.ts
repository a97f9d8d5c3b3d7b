/**
 * `modgate audit verify|query|report|export` over the replicas' chains in
 * PostgreSQL (audit.store: postgres, or --postgres URL): a verdict per
 * replica and one for the whole trail, and the union of the chains.
 */
import type pg from 'pg';
import {
  openAuditDb,
  queryPostgres,
  redactUrl,
  verifyPostgres,
  type ReplicaResult,
} from '../audit/pg-read.js';
import type { QueryFilter } from '../audit/query.js';
import type { VerifyResult } from '../audit/verify.js';
import type { AuditRecord } from '../audit/records.js';
import { parseVerifierKey } from '../integrity/note.js';
import type { FoundKey } from './audit-verify.js';
import { Progress } from './progress.js';

export interface PgSource {
  /** Unset: the PG* environment variables. */
  url?: string;
  /** From state.postgres.passwordFile; unset: PGPASSWORD or ~/.pgpass. */
  password?: string;
  replicas?: string[];
}

export function describeSource(s: PgSource): string {
  return s.url ? redactUrl(s.url) : 'the database of the PG* environment';
}

/** Streams the union of the chains, closing the connection when the reader stops. */
export async function* pgRecords(s: PgSource, filter: QueryFilter): AsyncGenerator<AuditRecord> {
  const c: pg.Client = await openAuditDb(s.url, s.password);
  try {
    yield* queryPostgres(c, filter, s.replicas);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface PgVerifyCli {
  source: PgSource;
  key: FoundKey;
  shipped?: string;
  requireCheckpoints?: boolean;
}

const idOf = (key: string): string => {
  const v = parseVerifierKey(key);
  return `${v.name}+${v.keyHash.toString(16).padStart(8, '0')}`;
};

/** A chain's verdict with the replica that wrote it (PostgreSQL replicas, worker chains). */
export type ChainResult = VerifyResult & { replica: string };

export function replicaLine(r: ChainResult): string {
  if (r.firstBad)
    return `replica ${r.replica}: BROKEN at record ${r.firstBad.seq}: ${r.firstBad.reason}`;
  if (r.foreign.length) {
    const keys = [...new Set(r.foreign.flatMap((f) => f.keys))].join(', ');
    return `replica ${r.replica}: NOT VERIFIED: ${r.foreign.length} checkpoint(s) signed by another key, ${keys}`;
  }
  if (r.checkpoints === 0 && r.records > 0)
    return `replica ${r.replica}: UNAUTHENTICATED: ${r.records} records, no signed checkpoint vouches for them`;
  return `replica ${r.replica}: OK: ${r.records} records, ${r.checkpoints} signed checkpoints, ${r.unsigned} records after the newest checkpoint`;
}

/** Verifies every replica's chain and prints the verdicts; returns the exit code. */
export async function runVerifyPostgres(o: PgVerifyCli): Promise<number> {
  const c = await openAuditDb(o.source.url, o.source.password);
  const progress = new Progress(0, 'verifying');
  let res;
  try {
    res = await verifyPostgres(c, {
      verifierKey: o.key.key,
      ...(o.shipped ? { shippedCheckpoints: o.shipped } : {}),
      ...(o.source.replicas ? { replicas: o.source.replicas } : {}),
      onProgress: () => progress.tick(),
    });
  } finally {
    progress.done();
    await c.end().catch(() => undefined);
  }
  const out: string[] = res.replicas.map(replicaLine);
  const using = `verifier key ${idOf(o.key.key)} (from ${o.key.from})`;
  const broken = res.replicas.filter((r) => r.firstBad);
  const foreign = res.replicas.filter((r) => !r.firstBad && r.foreign.length);
  const unauth = res.replicas.filter((r) => r.ok && r.checkpoints === 0 && r.records > 0);
  const records = res.replicas.reduce((n, r) => n + r.records, 0);
  const cps = res.replicas.reduce((n, r) => n + r.checkpoints, 0);
  for (const r of broken) {
    const b = r.firstBad as NonNullable<ReplicaResult['firstBad']>;
    out.push(`audit trail BROKEN in replica ${r.replica} at record ${b.seq}: ${b.reason}`);
  }
  if (foreign.length)
    out.push(
      `audit trail NOT VERIFIED: replica(s) ${foreign.map((r) => r.replica).join(', ')} carry checkpoints signed by another key, not by the ${using}`,
    );
  if (!broken.length && !foreign.length) {
    if (unauth.length)
      out.push(
        `WARNING: audit trail UNAUTHENTICATED in replica(s) ${unauth.map((r) => r.replica).join(', ')}: hash-chained, but no signed checkpoint vouches for them, so whoever can write the database could have rewritten them unseen.`,
      );
    out.push(
      `audit trail intact: ${res.replicas.length} replica(s) in ${describeSource(o.source)}, ${records} records, ${cps} signed checkpoints; ${using}`,
    );
    if (!o.shipped)
      out.push(
        'note: checkpoints in the database catch edits, not chains cut together with their checkpoints: compare with shipped ones (--shipped FILE).',
      );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (!res.ok) return 1;
  return unauth.length && o.requireCheckpoints ? 1 : 0;
}
