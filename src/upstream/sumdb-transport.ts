/**
 * Reaches a checksum database the way the go command does.
 *
 * | code                 | meaning                                                         |
 * |----------------------|-----------------------------------------------------------------|
 * | SUMDB_UNAVAILABLE    | the database, or the proxy relaying it, failed: the text names the status (or the network error) and the upstream |
 * | SUMDB_BAD_RESPONSE   | an answer over its size cap                                     |
 */
import { ModgateError, isModgateError } from '../errors.js';
import { getFromChain, toUpstreamError, type UpstreamClient } from './client.js';
import type { ProxyEntry } from './proxy-list.js';
import { redactUrl } from './url.js';

/**
 * Ask each upstream proxy in order for /sumdb/<name>/supported (moving on
 * after 404/410, or after any error following '|'), use the first that
 * supports it, else go to https://<name> directly. An explicit URL skips the
 * probe. Every fetch is its own upstream request with its own total deadline
 * (the client's), tied to no client request, and close() on the client aborts it.
 */
export class SumdbTransport {
  private base: Promise<string> | undefined;

  constructor(
    private readonly opts: {
      name: string;
      client: UpstreamClient;
      chain: ProxyEntry[];
      url?: string;
      maxBytes?: number;
    },
  ) {}

  get name(): string {
    return this.opts.name;
  }

  /** The database's base URL, probed once. */
  resolve(): Promise<string> {
    this.base ??= this.probe().catch((err) => {
      this.base = undefined;
      throw err;
    });
    return this.base;
  }

  private async probe(): Promise<string> {
    if (this.opts.url) return this.opts.url.replace(/\/+$/, '');
    for (const entry of this.opts.chain) {
      try {
        const res = await this.opts.client.get(entry.url, `/sumdb/${this.opts.name}/supported`);
        await res.body.dump().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) return `${entry.url}/sumdb/${this.opts.name}`;
      } catch (err) {
        if (!entry.fallBackOnError) throw this.explain(err, entry.url);
      }
    }
    return `https://${this.opts.name}`;
  }

  /** GETs a database path ("/latest", "/lookup/...", "/tile/..."); null for 404/410. */
  async get(path: string, signal?: AbortSignal): Promise<Buffer | null> {
    const base = await this.resolve();
    let res;
    try {
      res = await getFromChain(
        this.opts.client,
        [{ url: base, fallBackOnError: false }],
        path,
        signal,
      );
    } catch (err) {
      throw this.explain(err, base);
    }
    if (res.status === 404 || res.status === 410) {
      await res.body.dump().catch(() => undefined);
      return null;
    }
    const max = this.opts.maxBytes ?? 1 << 20;
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const chunk of res.body) {
        n += (chunk as Buffer).length;
        if (n > max)
          throw new ModgateError(
            'SUMDB_BAD_RESPONSE',
            `checksum database ${this.opts.name} (via ${redactUrl(base)}): ${path} exceeds ${max} bytes`,
          );
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      throw this.explain(err, base);
    }
    return Buffer.concat(chunks);
  }

  /** Says which database, through which upstream, and what happened (status or network error). */
  private explain(err: unknown, base: string): ModgateError {
    if (isModgateError(err) && err.code.startsWith('SUMDB_')) return err;
    const e = toUpstreamError(err, base);
    // The upstream error already names the upstream and the status or network error.
    return new ModgateError(
      'SUMDB_UNAVAILABLE',
      `checksum database ${this.opts.name}: ${e.code}: ${e.message}`,
      { ...e.details, upstream: redactUrl(base), upstreamCode: e.code },
      { cause: e },
    );
  }
}
