import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type tls from 'node:tls';
import { asModgateError, type ModgateError } from '../errors.js';
import { httpsOptionsFor, loadTlsPair, type HttpsFileOptions } from './server.js';

/** What CertReloader needs of a server: tls.Server and http2 secure servers qualify. */
export interface ReloadableServer {
  setSecureContext(options: tls.SecureContextOptions): void;
  getTicketKeys?(): Buffer;
}

export type ReloadEvent =
  | { kind: 'reloaded'; subject: string; notAfter: string; fingerprint256: string; trigger: string }
  | { kind: 'rejected'; error: ModgateError; trigger: string };

/**
 * Watches the certificate, key and client-CA files (their directories, so
 * atomic renames are seen) and listens for SIGHUP. After a quiet period it
 * loads and validates the files; a good pair replaces the server's secure
 * context with the complete option set (key, cert, ca, ciphers, minVersion,
 * client-certificate settings), a bad one is rejected and the current one
 * stays. Existing connections keep their context; new handshakes use the new
 * one, so no request is dropped.
 *
 * Emits 'reload' with a ReloadEvent for every attempt.
 */
export class CertReloader extends EventEmitter<{ reload: [ReloadEvent] }> {
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<boolean> = Promise.resolve(true);
  #onSignal = (): void => this.schedule('SIGHUP', 0);

  constructor(
    private readonly server: ReloadableServer,
    private readonly opts: HttpsFileOptions & {
      debounceMs?: number;
      signal?: NodeJS.Signals | false;
      watch?: boolean;
    },
  ) {
    super();
  }

  start(): this {
    const files = [this.opts.certFile, this.opts.keyFile, this.opts.caFile]
      .filter((f): f is string => !!f)
      .map((f) => path.resolve(f));
    const dirs = new Map<string, Set<string>>();
    for (const f of files)
      dirs.set(path.dirname(f), (dirs.get(path.dirname(f)) ?? new Set()).add(path.basename(f)));
    for (const [dir, names] of this.opts.watch === false ? [] : dirs) {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || names.has(String(name))) this.schedule(`file ${name ?? dir}`);
      });
      w.on('error', () => {});
      this.#watchers.push(w);
    }
    if (this.opts.signal !== false) process.on(this.opts.signal ?? 'SIGHUP', this.#onSignal);
    return this;
  }

  stop(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    clearTimeout(this.#timer);
    if (this.opts.signal !== false) process.off(this.opts.signal ?? 'SIGHUP', this.#onSignal);
  }

  private schedule(trigger: string, delay = this.opts.debounceMs ?? 250): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.reload(trigger), delay);
    this.#timer.unref();
  }

  /** Loads, validates and applies the files now; resolves true when applied. */
  reload(trigger = 'manual'): Promise<boolean> {
    this.#running = this.#running.then(() => this.#apply(trigger));
    return this.#running;
  }

  async #apply(trigger: string): Promise<boolean> {
    try {
      const pair = await loadTlsPair(this.opts);
      const ticketKeys = this.server.getTicketKeys?.();
      this.server.setSecureContext({
        ...httpsOptionsFor(pair, this.opts),
        ...(ticketKeys ? { ticketKeys } : {}),
      });
      this.emit('reload', {
        kind: 'reloaded',
        subject: pair.leaf.subject,
        notAfter: pair.leaf.validTo,
        fingerprint256: pair.leaf.fingerprint256,
        trigger,
      });
      return true;
    } catch (err) {
      this.emit('reload', {
        kind: 'rejected',
        error: asModgateError(err, 'TLS_FILES_INVALID'),
        trigger,
      });
      return false;
    }
  }
}
