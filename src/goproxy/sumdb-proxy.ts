import type { FastifyReply, FastifyRequest } from 'fastify';
import { ModgateError } from '../errors.js';
import { unescapePath } from '../integrity/module.js';
import type { BlobStore } from '../storage/types.js';
import type { SumdbTransport } from '../upstream/sumdb-transport.js';
import { SingleFlight } from '../upstream/singleflight.js';
import { createHash } from 'node:crypto';

const TILE = /^tile\/\d+\/(?:\d+|data)\/(?:x\d{3}\/)*\d{3}(?:\.p\/\d+)?$/;
const LOOKUP = /^lookup\/(.+)@([^@/]+)$/;

/**
 * The checksum-database proxy for clients: /sumdb/<name>/supported is answered
 * here; latest, lookup and tile are forwarded and cached (full tiles forever,
 * latest briefly and served stale when the database is down). A 404 for a
 * partial tile passes through uncached so the client falls back to the full
 * tile. Lookups of private modules are refused so their names never leak.
 */
export class SumdbProxy {
  private readonly flights = new SingleFlight<Buffer | null>();

  constructor(
    private readonly d: {
      name: string;
      transport: SumdbTransport;
      store: BlobStore;
      latestTtlSeconds: number;
      isPrivate: (modulePath: string) => boolean;
    },
  ) {}

  handler = async (_req: FastifyRequest, reply: FastifyReply, rest: string): Promise<void> => {
    const slash = rest.indexOf('/');
    const name = slash < 0 ? rest : rest.slice(0, slash);
    const sub = slash < 0 ? '' : rest.slice(slash + 1);
    if (name !== this.d.name)
      throw new ModgateError('NOT_FOUND', `modgate does not proxy checksum database ${name}`);
    const body = await this.serve(sub);
    reply.header('content-type', 'text/plain; charset=utf-8');
    if (sub.startsWith('tile/') && !sub.includes('.p/'))
      reply.header('cache-control', 'public, max-age=31536000, immutable');
    else reply.header('cache-control', `public, max-age=${this.d.latestTtlSeconds}`);
    await reply.code(200).send(body);
  };

  async serve(sub: string): Promise<Buffer> {
    if (sub === 'supported') return Buffer.alloc(0);
    if (sub === 'latest') return this.latest();
    const lookup = LOOKUP.exec(sub);
    if (lookup) {
      let modulePath: string;
      try {
        modulePath = unescapePath(lookup[1]!);
      } catch {
        throw new ModgateError('REQUEST_INVALID', `invalid lookup path ${sub}`);
      }
      if (this.d.isPrivate(modulePath)) {
        throw new ModgateError(
          'PRIVATE_LOOKUP_REFUSED',
          `${modulePath} is private: modgate does not look it up in ${this.d.name}`,
        );
      }
      return this.cachedForever(sub);
    }
    if (TILE.test(sub)) {
      if (sub.includes('.p/')) return this.fetch(sub);
      return this.cachedForever(sub);
    }
    throw new ModgateError('NOT_FOUND', `unknown checksum database path ${sub}`);
  }

  private key(sub: string): string {
    return `sumdb-proxy/${this.d.name}/${createHash('sha256').update(sub).digest('hex')}`;
  }

  private async fetch(sub: string): Promise<Buffer> {
    const body = await this.flights.do(sub, () => this.d.transport.get(`/${sub}`));
    if (!body) throw new ModgateError('UPSTREAM_NOT_FOUND', `${this.d.name}: ${sub} not found`);
    return body;
  }

  private async cachedForever(sub: string): Promise<Buffer> {
    const key = this.key(sub);
    const hit = await this.d.store.getBytes(key);
    if (hit) return hit;
    const body = await this.fetch(sub);
    await this.d.store.putBytes(key, body);
    return body;
  }

  private async latest(): Promise<Buffer> {
    const key = this.key('latest');
    const info = await this.d.store.stat(key);
    if (info && Date.now() - info.mtimeMs < this.d.latestTtlSeconds * 1000) {
      const hit = await this.d.store.getBytes(key);
      if (hit) return hit;
    }
    try {
      const body = await this.fetch('latest');
      await this.d.store.putBytes(key, body);
      return body;
    } catch (err) {
      const stale = await this.d.store.getBytes(key);
      if (stale) return stale;
      throw err;
    }
  }
}
