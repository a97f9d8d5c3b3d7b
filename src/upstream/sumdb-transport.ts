import { ModgateError } from '../errors.js';
import { getFromChain, type UpstreamClient } from './client.js';
import type { ProxyEntry } from './proxy-list.js';

/**
 * Reaches a checksum database the way the go command does: ask each upstream
 * proxy in order for /sumdb/<name>/supported (moving on after 404/410, or after
 * any error following '|'), use the first that supports it, else go to
 * https://<name> directly. An explicit URL skips the probe.
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
        if (!entry.fallBackOnError) throw err;
      }
    }
    return `https://${this.opts.name}`;
  }

  /** GETs a database path ("/latest", "/lookup/...", "/tile/..."); null for 404/410. */
  async get(path: string): Promise<Buffer | null> {
    const base = await this.resolve();
    const res = await getFromChain(this.opts.client, [{ url: base, fallBackOnError: false }], path);
    if (res.status === 404 || res.status === 410) {
      await res.body.dump().catch(() => undefined);
      return null;
    }
    const max = this.opts.maxBytes ?? 1 << 20;
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of res.body) {
      n += (chunk as Buffer).length;
      if (n > max)
        throw new ModgateError(
          'SUMDB_BAD_RESPONSE',
          `checksum database response for ${path} exceeds ${max} bytes`,
        );
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }
}
