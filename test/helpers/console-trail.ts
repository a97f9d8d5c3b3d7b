/**
 * A gateway-like data folder with a large audit trail for the console's tests,
 * written by the real AuditLog (hash chain, segments by UTC day, signed
 * checkpoints), so that `modgate audit verify` passes over it. Records are
 * spread over `days` days ending an hour ago; a few modules have denials.
 */
import path from 'node:path';
import { loadOrCreateAuditKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import type { AccessEntry, DecisionEntry } from '../../src/audit/records.js';

export const MODULES = [
  'example.com/alpha',
  'example.com/beta',
  'example.com/gamma',
  'golang.org/x/text',
  'github.com/acme/widgets',
  'github.com/acme/evil',
] as const;
/** The module whose versions are denied (VERSION_BANNED for v0.x, VULNERABLE for v1.0.x). */
export const DENIED_MODULE = 'github.com/acme/evil';
export const CLIENTS = ['ci', 'alice', 'bob', 'build-farm'] as const;
const KINDS = ['info', 'mod', 'zip', 'list'] as const;

export interface GeneratedTrail {
  data: string;
  verifierKey: string;
  records: number;
  from: Date;
  to: Date;
  /** Decisions that deny, by module. */
  denials: Record<string, number>;
}

function hex(i: number, salt: string): string {
  return (salt + i.toString(16)).padStart(64, '0').slice(-64);
}

function decisionAt(i: number, time: string): DecisionEntry {
  const module = MODULES[i % MODULES.length]!;
  const kind = KINDS[Math.floor(i / MODULES.length) % KINDS.length]!;
  const minor = (i >> 3) % 4;
  const k = Math.floor(i / MODULES.length);
  const version = module === DENIED_MODULE ? `v${k % 2}.${minor}.0` : `v1.${minor}.${i % 3}`;
  const denied = module === DENIED_MODULE && kind !== 'list';
  const codes = denied ? [version.startsWith('v0.') ? 'VERSION_BANNED' : 'VULNERABLE'] : [];
  const client = CLIENTS[i % CLIENTS.length]!;
  const withEvidence = kind === 'zip' || kind === 'mod';
  return {
    type: 'decision',
    time,
    requestId: `req-${i}`,
    client: { id: client, method: 'bearer', groups: [], address: '127.0.0.1' },
    kind,
    module,
    ...(kind === 'list' ? {} : { version }),
    decision: denied ? 'deny' : i % 17 === 0 ? 'warn' : 'allow',
    codes: !denied && i % 17 === 0 ? ['LICENSE_UNKNOWN'] : codes,
    policyRevision: `policy-${1 + Math.floor(i / 50_000)}`,
    cache: i % 3 === 0 ? 'miss' : 'hit',
    ...(withEvidence
      ? {
          evidence: {
            h1: `h1:${Buffer.from(hex(i % 997, module))
              .toString('base64')
              .slice(0, 43)}=`,
            ...(kind === 'zip' ? { zipSha256: hex(i % 991, 'a') } : {}),
            sumdb: {
              name: 'sum.golang.org',
              treeSize: 30_000_000 + i,
              rootHash: Buffer.from(hex(i, 'r'), 'hex').toString('base64'),
              recordId: 1_000_000 + (i % 997),
            },
            ...(kind === 'zip'
              ? {
                  licenses: {
                    expression: 'BSD-3-Clause',
                    unknown: false,
                    files: [{ path: 'LICENSE', spdx: 'BSD-3-Clause' }],
                  },
                }
              : {}),
          },
        }
      : {}),
  };
}

function accessAt(i: number, time: string): AccessEntry {
  return {
    type: 'access',
    time,
    requestId: `acc-${i}`,
    client: { id: 'anonymous', method: 'anonymous', groups: [], address: '127.0.0.2' },
    kind: 'zip',
    method: 'GET',
    path: '/example.com/alpha/@v/v1.0.0.zip',
    status: 401,
    code: 'AUTH_REQUIRED',
    durationMs: 1,
    count: 1,
  };
}

/** Writes `records` records into <data>/audit with the key <data>/keys/audit.key. */
export async function generateTrail(
  data: string,
  records: number,
  days = 40,
): Promise<GeneratedTrail> {
  const key = await loadOrCreateAuditKey(path.join(data, 'keys', 'audit.key'));
  const to = new Date(Date.now() - 3_600_000);
  const from = new Date(to.getTime() - days * 86_400_000);
  const step = (to.getTime() - from.getTime()) / records;
  let clock = from.getTime();
  const log = await AuditLog.open({
    dir: path.join(data, 'audit'),
    key,
    checkpointIntervalSec: 0,
    now: () => new Date(clock),
  });
  const denials: Record<string, number> = {};
  // The start record takes one seq: the rest of the budget is decisions and access records.
  const BATCH = 2000;
  for (let i = 1; i < records; i += BATCH) {
    const waits = [];
    for (let j = i; j < Math.min(records, i + BATCH); j++) {
      clock = from.getTime() + j * step;
      const time = new Date(clock).toISOString();
      const entry = j % 50 === 0 ? accessAt(j, time) : decisionAt(j, time);
      if (entry.type === 'decision' && entry.decision === 'deny')
        denials[entry.module] = (denials[entry.module] ?? 0) + 1;
      waits.push(log.append(entry));
    }
    await Promise.all(waits);
    if (Math.floor((i + BATCH) / 25_000) !== Math.floor(i / 25_000)) await log.checkpoint();
  }
  await log.checkpoint();
  await log.close();
  return { data, verifierKey: key.verifierKey, records, from, to, denials };
}
