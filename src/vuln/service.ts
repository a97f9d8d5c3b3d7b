/**
 * The vulnerability database as the gateway holds it: the verified copy, its
 * index, and the scheduled sync that only ever moves it forward. Each sync is
 * recorded in the audit trail (event `vulndb_sync`, with modified and
 * sha256); a source that goes back in time is refused and alarmed
 * (VULNDB_ROLLBACK, event `vulndb_rollback`), and the held copy stays.
 */
import type { Logger } from 'pino';
import type { AuditPort } from '../contracts.js';
import { ModgateError, asModgateError } from '../errors.js';
import { VulnIndex } from './index.js';
import { checkSnapshot, type Snapshot } from './layout.js';
import type { VulnSource } from './source.js';
import type { VulnStore } from './store.js';

export interface SyncResult {
  outcome: 'updated' | 'unchanged';
  modified: string;
  sha256: string;
}

export interface VulnServiceOptions {
  source: VulnSource;
  store?: VulnStore;
  audit: AuditPort;
  logger?: Logger;
  /** Called with the code of a refused sync (metrics, alarms). */
  onAlarm?: (code: string) => void;
}

export class VulnService {
  private current: { snap: Snapshot; index: VulnIndex } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SyncResult> | undefined;
  private readonly stop = new AbortController();

  constructor(private readonly opts: VulnServiceOptions) {}

  /** The index, once a verified copy is held. */
  get index(): VulnIndex | undefined {
    return this.current?.index;
  }

  get snapshot(): Snapshot | undefined {
    return this.current?.snap;
  }

  /** Loads the held copy from disk (if any); a tampered copy is alarmed and dropped. */
  async open(): Promise<void> {
    if (!this.opts.store) return;
    try {
      const snap = await this.opts.store.load();
      if (snap) this.install(snap);
    } catch (err) {
      const e = asModgateError(err);
      this.opts.logger?.error({ code: e.code }, e.message);
      await this.opts.audit.security({
        event: 'vulndb_held_invalid',
        details: { code: e.code, message: e.message },
      });
      this.opts.onAlarm?.(e.code);
    }
  }

  private install(snap: Snapshot): void {
    this.current = { snap, index: new VulnIndex(snap.entries, snap.modified) };
  }

  /** One sync; concurrent callers share it. */
  sync(): Promise<SyncResult> {
    this.running ??= this.syncOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async syncOnce(): Promise<SyncResult> {
    const { source, audit } = this.opts;
    const signal = this.stop.signal;
    const held = this.current?.snap;
    try {
      const modified = await source.modified(signal);
      if (held && Date.parse(modified) === Date.parse(held.modified)) {
        const r: SyncResult = { outcome: 'unchanged', modified, sha256: held.sha256 };
        await audit.security({ event: 'vulndb_sync', details: { ...r, source: source.label } });
        return r;
      }
      if (held) this.refuseRollback(modified, held.modified, 'index/db.json');
      const snap = checkSnapshot(await source.files(signal, held?.files));
      if (held) this.refuseRollback(snap.modified, held.modified, 'the fetched copy');
      await this.opts.store?.save(snap);
      this.install(snap);
      const r: SyncResult = { outcome: 'updated', modified: snap.modified, sha256: snap.sha256 };
      await audit.security({
        event: 'vulndb_sync',
        details: {
          ...r,
          source: source.label,
          entries: snap.entries.length,
          previous: held?.modified ?? null,
        },
      });
      this.opts.logger?.info(
        { modified: snap.modified, entries: snap.entries.length },
        'vulnerability database updated',
      );
      return r;
    } catch (err) {
      const e = asModgateError(err, 'VULNDB_UNAVAILABLE');
      const event = e.code === 'VULNDB_ROLLBACK' ? 'vulndb_rollback' : 'vulndb_sync_failed';
      await audit
        .security({
          event,
          details: {
            code: e.code,
            message: e.message,
            source: source.label,
            held: held?.modified ?? null,
          },
        })
        .catch(() => undefined);
      this.opts.onAlarm?.(e.code);
      this.opts.logger?.error({ code: e.code, source: source.label }, e.message);
      throw e;
    }
  }

  private refuseRollback(seen: string, held: string, what: string): void {
    if (Date.parse(seen) < Date.parse(held))
      throw new ModgateError(
        'VULNDB_ROLLBACK',
        `vulnerability database ${this.opts.source.label}: ${what} is modified ${seen}, older than the held copy (${held}); refused`,
        { seen, held },
      );
  }

  /** Syncs now (errors logged and alarmed), then every intervalMs. */
  schedule(intervalMs: number): void {
    const tick = (): void => {
      this.sync()
        .catch(() => undefined)
        .finally(() => {
          if (!this.stop.signal.aborted) {
            this.timer = setTimeout(tick, intervalMs);
            this.timer.unref();
          }
        });
    };
    tick();
  }

  /** Stops the schedule and waits for a sync in flight. */
  async close(): Promise<void> {
    this.stop.abort(new ModgateError('SHUTTING_DOWN', 'modgate is shutting down'));
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}
