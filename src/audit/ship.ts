/**
 * Ships checkpoints off the host so that a local attacker cannot silently
 * truncate or rewrite the log: HTTP POST of the note (retried with
 * exponential backoff, bounded) and/or an RFC 5424 syslog message over UDP or
 * TCP (octet-counted framing, RFC 6587).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import { request, type Dispatcher } from 'undici';
import { ModgateError } from '../errors.js';
import type { Checkpoint } from './checkpoint.js';
import { hexToBase64 } from './records.js';

export interface HttpShipOptions {
  url: string;
  headers?: Record<string, string>;
  /** Attempts after the first (default 5). */
  retries?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  timeoutMs?: number;
  dispatcher?: Dispatcher;
}

export interface SyslogShipOptions {
  host: string;
  port: number;
  protocol?: 'udp' | 'tcp';
  appName?: string;
  hostname?: string;
  /** Syslog facility (default 13, log audit). */
  facility?: number;
  timeoutMs?: number;
}

export interface ShipperOptions {
  http?: HttpShipOptions;
  syslog?: SyslogShipOptions;
  /** Checkpoints waiting beyond this are dropped, oldest first (default 16); a newer checkpoint covers them. */
  maxQueue?: number;
  onError?: (err: ModgateError) => void;
  sleep?: (ms: number) => Promise<void>;
}

const SD_ID = 'checkpoint@32473';

function sdEscape(v: string): string {
  return v.replace(/["\\\]]/g, '\\$&');
}

/** The RFC 5424 message for a checkpoint; MSG is `note=<base64 of the note>`. */
export function syslogMessage(cp: Checkpoint, o: SyslogShipOptions, now = new Date()): string {
  const pri = (o.facility ?? 13) * 8 + 5;
  const host = (o.hostname ?? os.hostname()).replace(/[^\x21-\x7e]/g, '').slice(0, 255) || '-';
  const app = (o.appName ?? 'modgate').replace(/[^\x21-\x7e]/g, '').slice(0, 48) || '-';
  const replica = cp.replica ? ` replica="${sdEscape(cp.replica)}"` : '';
  const sd = `[${SD_ID} seq="${cp.seq}" hash="${sdEscape(hexToBase64(cp.hash))}"${replica}]`;
  return `<${pri}>1 ${now.toISOString()} ${host} ${app} ${process.pid} checkpoint ${sd} note=${cp.note.toString('base64')}`;
}

function sendUdp(msg: string, o: SyslogShipOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(o.host) ? 'udp6' : 'udp4');
    sock.once('error', (e) => {
      sock.close();
      reject(e);
    });
    sock.send(Buffer.from(msg, 'utf8'), o.port, o.host, (err) => {
      sock.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

function sendTcp(msg: string, o: SyslogShipOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(msg, 'utf8');
    const sock = net.connect({ host: o.host, port: o.port });
    sock.setTimeout(o.timeoutMs ?? 10_000, () =>
      sock.destroy(new Error('syslog connection timed out')),
    );
    sock.once('error', reject);
    sock.once('connect', () => sock.end(Buffer.concat([Buffer.from(`${body.length} `), body])));
    sock.once('close', (hadError) => {
      if (!hadError) resolve();
    });
  });
}

export class CheckpointShipper {
  readonly stats = { shipped: 0, failed: 0, dropped: 0, attempts: 0 };
  private queue: Checkpoint[] = [];
  private running: Promise<void> | undefined;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: ShipperOptions) {
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
  }

  /** Queues a checkpoint for shipping (never throws; failures go to onError). Suits AuditLog's onCheckpoint. */
  enqueue(cp: Checkpoint): void {
    this.queue.push(cp);
    const max = this.opts.maxQueue ?? 16;
    while (this.queue.length > max) {
      this.queue.shift();
      this.stats.dropped++;
    }
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  /** Resolves when the queue is empty. */
  async idle(): Promise<void> {
    for (let i = 0; i < 10_000 && this.running; i++) await this.running;
  }

  private async drain(): Promise<void> {
    for (let cp = this.queue.shift(); cp; cp = this.queue.shift()) {
      try {
        await this.ship(cp);
      } catch (err) {
        this.opts.onError?.(err as ModgateError);
      }
    }
  }

  /** Ships one checkpoint to every configured destination; throws AUDIT_SHIP_FAILED. */
  async ship(cp: Checkpoint): Promise<void> {
    const errors: string[] = [];
    if (this.opts.http)
      await this.postWithRetry(cp, this.opts.http).catch((e: Error) =>
        errors.push(`http: ${e.message}`),
      );
    if (this.opts.syslog) {
      const o = this.opts.syslog;
      const msg = syslogMessage(cp, o);
      await (o.protocol === 'tcp' ? sendTcp(msg, o) : sendUdp(msg, o)).catch((e: Error) =>
        errors.push(`syslog: ${e.message}`),
      );
    }
    if (errors.length) {
      this.stats.failed++;
      throw new ModgateError(
        'AUDIT_SHIP_FAILED',
        `shipping checkpoint ${cp.seq} failed: ${errors.join('; ')}`,
        { seq: cp.seq },
      );
    }
    this.stats.shipped++;
  }

  private async postWithRetry(cp: Checkpoint, o: HttpShipOptions): Promise<void> {
    const retries = Math.min(o.retries ?? 5, 20);
    let delay = o.backoffMs ?? 500;
    for (let attempt = 0; ; attempt++) {
      this.stats.attempts++;
      const outcome = await this.post(cp, o);
      if (outcome === 'ok') return;
      if (outcome.final || attempt >= retries) throw new Error(outcome.error);
      await this.sleep(delay);
      delay = Math.min(delay * 2, o.maxBackoffMs ?? 30_000);
    }
  }

  private async post(
    cp: Checkpoint,
    o: HttpShipOptions,
  ): Promise<'ok' | { error: string; final: boolean }> {
    try {
      const t = o.timeoutMs ?? 10_000;
      const res = await request(o.url, {
        method: 'POST',
        body: cp.note,
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          'x-modgate-audit-seq': String(cp.seq),
          ...(cp.replica ? { 'x-modgate-audit-replica': cp.replica } : {}),
          ...o.headers,
        },
        headersTimeout: t,
        bodyTimeout: t,
        ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return 'ok';
      const retryable = res.statusCode >= 500 || res.statusCode === 429 || res.statusCode === 408;
      return { error: `status ${res.statusCode}`, final: !retryable };
    } catch (err) {
      return { error: (err as Error).message, final: false };
    }
  }
}
