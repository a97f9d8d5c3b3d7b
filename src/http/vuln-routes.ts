/**
 * /vuln/... : the GOVULNDB mirror. Serves the verified copy of the
 * vulnerability database that src/vuln holds, in the v1 layout, behind the
 * same front door (authentication, deadline, access audit) as every route:
 * `GOVULNDB=https://modgate.example/vuln govulncheck ./...`. Each file is
 * served as `<name>.json` and, as govulncheck asks for it, `<name>.json.gz`.
 * Nothing here reaches an upstream.
 */
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { ModgateError } from '../errors.js';
import type { Snapshot } from '../vuln/layout.js';
import { sendError } from './send-error.js';

export interface VulnMirror {
  /** The held verified copy, if any. */
  readonly snapshot: Snapshot | undefined;
}

const PATH_RE = /^(index\/(?:db|modules|vulns)|ID\/GO-[0-9]{4}-[0-9]{4,7})\.json(\.gz)?$/;

export function registerVulnRoutes(app: FastifyInstance, mirror: VulnMirror | undefined): void {
  let gz = { sha: '', files: new Map<string, Buffer>() };
  const gzipped = (snap: Snapshot, rel: string, body: Buffer): Buffer => {
    if (gz.sha !== snap.sha256) gz = { sha: snap.sha256, files: new Map() };
    let out = gz.files.get(rel);
    if (!out) gz.files.set(rel, (out = gzipSync(body)));
    return out;
  };
  app.get('/vuln/*', async (req, reply) => {
    const rest = (req.params as { '*': string })['*'];
    try {
      if (req.url.includes('?'))
        throw new ModgateError(
          'REQUEST_INVALID',
          'vulnerability database paths take no query string',
        );
      if (!mirror)
        throw new ModgateError(
          'NOT_FOUND',
          'modgate mirrors no vulnerability database (vulndb.enabled: false)',
        );
      const snap = mirror.snapshot;
      if (!snap)
        throw new ModgateError(
          'VULNDB_NOT_LOADED',
          'no verified copy of the vulnerability database is held yet',
        );
      const m = PATH_RE.exec(rest);
      const body = m ? snap.files.get(`${m[1]}.json`) : undefined;
      if (!m || !body)
        throw new ModgateError('NOT_FOUND', 'no such file in the vulnerability database');
      reply
        .code(200)
        .header('cache-control', 'public, max-age=300')
        .header('last-modified', new Date(snap.modified).toUTCString())
        .header('etag', `"${snap.sha256.slice(0, 32)}"`);
      if (m[2])
        return await reply
          .header('content-type', 'application/gzip')
          .send(gzipped(snap, rest, body));
      return await reply.header('content-type', 'application/json').send(body);
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
