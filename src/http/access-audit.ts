/**
 * Access records for answers that no decision record covers, with flood
 * control: per client address and code, the first `burst` answers of a second
 * are written one by one; the rest of that second become one aggregated record
 * with their count. A flood of bad tokens thus costs at most burst + 1 records
 * per client, code and second, and the counts still add up to every answer.
 */
import type { AccessRecord, AuditPort } from '../contracts.js';

interface Bucket {
  second: number;
  written: number;
  extra: number;
  last: AccessRecord;
}

export interface AccessAuditOptions {
  port: AuditPort;
  burst: number;
  /** Distinct client/code pairs tracked per second; beyond it clients share one bucket per code. */
  maxKeys?: number;
  onAggregated?: (code: string, n: number) => void;
  onError: (err: unknown) => void;
  now?: () => number;
}

export class AccessAudit {
  private readonly buckets = new Map<string, Bucket>();
  private readonly pending = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly o: AccessAuditOptions) {
    this.timer = setInterval(() => this.flush(false), 1000);
    this.timer.unref();
  }

  record(rec: AccessRecord): void {
    if (this.closed) return;
    const now = this.o.now ?? Date.now;
    const second = Math.floor(now() / 1000);
    const code = rec.code ?? `status ${rec.status}`;
    let key = `${rec.ctx.address}\u0000${code}`;
    if (!this.buckets.has(key) && this.buckets.size >= (this.o.maxKeys ?? 10_000))
      key = `*\u0000${code}`;
    let b = this.buckets.get(key);
    if (b && b.second !== second) {
      this.emit(b);
      b = undefined;
    }
    if (!b) {
      b = { second, written: 0, extra: 0, last: rec };
      this.buckets.set(key, b);
    }
    if (b.written < this.o.burst) {
      b.written++;
      this.write(rec);
      return;
    }
    b.extra++;
    b.last = key.startsWith('*\u0000') ? { ...rec, ctx: { ...rec.ctx, address: '*' } } : rec;
    this.o.onAggregated?.(code, 1);
  }

  /** Writes every aggregated bucket and waits for all records in flight. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.flush(true);
    await Promise.all([...this.pending]);
  }

  private flush(all: boolean): void {
    const second = Math.floor((this.o.now ?? Date.now)() / 1000);
    for (const [key, b] of this.buckets) {
      if (!all && b.second >= second) continue;
      this.emit(b);
      this.buckets.delete(key);
    }
  }

  private emit(b: Bucket): void {
    if (b.extra === 0) return;
    this.write({
      ...b.last,
      count: b.extra,
      window: new Date(b.second * 1000).toISOString(),
    });
    b.extra = 0;
  }

  private write(rec: AccessRecord): void {
    if (!this.o.port.access) return;
    const p = this.o.port.access(rec).catch(this.o.onError);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}
