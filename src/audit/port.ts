import type {
  AccessRecord,
  AuditPort,
  CompletionRecord,
  DecisionRecord,
  SecurityEvent,
} from '../contracts.js';
import { redactDeep, type Redactor } from '../config/redact.js';
import type { AuditLog } from './log.js';
import type { AccessEntry, AuditEntry, DecisionEntry } from './records.js';

/**
 * Adapts the fetch flow's audit port to the audit log. Decision and security
 * records resolve once durable (group commit); completion and access records
 * follow without holding the response, and ride with the next durable batch. onFailure 'serve' keeps serving when the log
 * is unwritable (the default, 'refuse', makes the flow answer 503).
 */
export function auditPort(
  log: AuditLog,
  onFailure: 'refuse' | 'serve',
  onError: (err: unknown) => void,
  redact?: Redactor,
): AuditPort {
  // Error details and upstream names may carry URLs with credentials: none reaches the trail.
  // Completion and access records come after their answer and hold nothing back (lazy).
  const append = (e: AuditEntry, lazy = false): Promise<unknown> =>
    log.append(redact ? redactDeep(e, redact) : e, lazy);
  const write = async (p: Promise<unknown>): Promise<void> => {
    try {
      await p;
    } catch (err) {
      onError(err);
      if (onFailure === 'refuse') throw err;
    }
  };
  return {
    decision: (rec: DecisionRecord) => write(append(toEntry(rec))),
    access: (rec: AccessRecord) => write(append(accessEntry(rec), true)),
    completion: (rec: CompletionRecord) => {
      append(
        {
          type: 'completion',
          requestId: rec.ctx.requestId,
          outcome: rec.outcome,
          bytes: rec.bytes,
          durationMs: Date.now() - rec.ctx.startedAt,
          status: rec.status,
        },
        true,
      ).catch(onError);
    },
    security: (ev: SecurityEvent) =>
      write(
        append({
          type: 'security',
          event: ev.event,
          ...(ev.ctx ? { requestId: ev.ctx.requestId } : {}),
          details: {
            ...(ev.module ? { module: ev.module } : {}),
            ...(ev.version ? { version: ev.version } : {}),
            ...ev.details,
          },
        }),
      ),
    healthy: () => onFailure === 'serve' || log.healthy,
  };
}

function accessEntry(r: AccessRecord): AccessEntry {
  return {
    ...(r.ctx.purpose ? { purpose: r.ctx.purpose } : {}),
    type: 'access',
    requestId: r.ctx.requestId,
    ...(r.ctx.clientRequestId !== undefined ? { clientRequestId: r.ctx.clientRequestId } : {}),
    client: { ...r.ctx.identity, address: r.ctx.address },
    kind: r.kind,
    method: r.method,
    path: r.path,
    status: r.status,
    ...(r.code !== undefined ? { code: r.code } : {}),
    ...(r.module !== undefined ? { module: r.module } : {}),
    ...(r.version !== undefined ? { version: r.version } : {}),
    durationMs: Date.now() - r.ctx.startedAt,
    count: r.count ?? 1,
    ...(r.window !== undefined ? { window: r.window } : {}),
  };
}

function toEntry(r: DecisionRecord): DecisionEntry {
  const ev = r.evidence;
  const purpose = r.purpose ?? r.ctx.purpose;
  return {
    ...(purpose ? { purpose } : {}),
    type: 'decision',
    time: new Date().toISOString(),
    requestId: r.ctx.requestId,
    ...(r.ctx.clientRequestId !== undefined ? { clientRequestId: r.ctx.clientRequestId } : {}),
    client: { ...r.ctx.identity, address: r.ctx.address },
    kind: r.kind,
    module: r.module,
    ...(r.version !== undefined ? { version: r.version } : {}),
    decision: r.decision === 'error' ? 'deny' : r.decision,
    codes: r.codes,
    policyRevision: r.policyRevision ?? 'none',
    ...(r.dataRevision ? { dataRevision: r.dataRevision } : {}),
    cache: r.cache === 'hit' ? 'hit' : 'miss',
    ...(r.upstream ? { upstream: r.upstream } : {}),
    ...(ev
      ? {
          evidence: {
            h1: ev.h1,
            ...(ev.zipSha256 ? { zipSha256: ev.zipSha256 } : {}),
            ...(ev.sumdb
              ? {
                  sumdb: {
                    name: ev.sumdb.name,
                    treeSize: ev.sumdb.treeSize,
                    rootHash: ev.sumdb.rootHash,
                    recordId: ev.sumdb.recordId,
                  },
                }
              : {}),
            ...(ev.method === 'tofu' ? { tofu: true } : {}),
            ...(ev.licenses
              ? {
                  licenses: {
                    expression: ev.licenses.expression,
                    unknown: ev.licenses.unknown,
                    files: ev.licenses.files.map((f) => ({ path: f.path, spdx: f.spdx })),
                  },
                }
              : {}),
          },
        }
      : {}),
  };
}
