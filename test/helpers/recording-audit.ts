import type { AuditPort, DecisionRecord, SecurityEvent } from '../../src/contracts.js';

/** An audit port that keeps what it is given, for assertions on decisions and security events. */
export function recordingAudit(): AuditPort & {
  decisions: DecisionRecord[];
  events: SecurityEvent[];
} {
  const decisions: DecisionRecord[] = [];
  const events: SecurityEvent[] = [];
  return {
    decisions,
    events,
    async decision(rec) {
      decisions.push(rec);
    },
    completion() {},
    async security(ev) {
      events.push(ev);
    },
    healthy: () => true,
  };
}
