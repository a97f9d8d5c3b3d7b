import type { AuditPort, CompletionRecord, DecisionRecord, SecurityEvent } from '../contracts.js';
import type { AuditLog } from './log.js';
import type { DecisionEntry } from './records.js';

/**
 * Adapts the fetch flow's audit port to the audit log. Decision and security
 * records resolve once fsynced (group commit); completion records follow
 * without holding the response. onFailure 'serve' keeps serving when the log
 * is unwritable (the default, 'refuse', makes the flow answer 503).
 */
export function auditPort(
  log: AuditLog,
  onFailure: 'refuse' | 'serve',
  onError: (err: unknown) => void,
): AuditPort {
  const write = async (p: Promise<unknown>): Promise<void> => {
    try {
      await p;
    } catch (err) {
      onError(err);
      if (onFailure === 'refuse') throw err;
    }
  };
  return {
    decision: (rec: DecisionRecord) => write(log.append(toEntry(rec))),
    completion: (rec: CompletionRecord) => {
      log
        .append({
          type: 'completion',
          requestId: rec.ctx.requestId,
          outcome: rec.outcome,
          bytes: rec.bytes,
          durationMs: Date.now() - rec.ctx.startedAt,
          status: rec.status,
        })
        .catch(onError);
    },
    security: (ev: SecurityEvent) =>
      write(
        log.append({
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

function toEntry(r: DecisionRecord): DecisionEntry {
  const ev = r.evidence;
  const purpose = r.purpose ?? r.ctx.purpose;
  return {
    ...(purpose ? { purpose } : {}),
    type: 'decision',
    time: new Date().toISOString(),
    requestId: r.ctx.requestId,
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
          },
        }
      : {}),
  };
}
