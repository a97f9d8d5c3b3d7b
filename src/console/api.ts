/**
 * The console's JSON API under /console/api/. Authentication and the role
 * check are the front door's (src/http/auth-hook.ts); these handlers only
 * read, through TrailReader and the audit query code, and bound every answer.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { buildCycloneDx } from '../audit/cyclonedx.js';
import { formatRecords, toRow, type QueryFilter } from '../audit/query.js';
import { ModgateError } from '../errors.js';
import { lastCheckpoints, VerifyJobs } from './integrity.js';
import { FILTER_KEYS, bad, filterOf, intParam, readParams, type Params } from './params.js';
import { countBuckets, inventory, moduleVersions } from './summaries.js';
import { parseRecordId, recordId, TrailReader, type Tagged } from './trail.js';

export interface ConsoleApiDeps {
  trail: TrailReader;
  /** The gateway's audit verifier key (checkpoints and verify now). */
  verifierKey: string;
  /** Gateway status for the overview: cache, upstreams, checksum database, vulnerability database. */
  status: () => Promise<Record<string, unknown>>;
  toolVersion: string;
  now?: () => Date;
}

export const MAX_PAGE = 200;
const MAX_MODULES = 5000;
const MAX_VERSIONS = 1000;
const MAX_BUCKETS = 200;
const OVERVIEW_DEFAULT = '7d';

/** A decision row of the table: the CLI's columns, the record's id and its replica. */
function row(r: Tagged): Record<string, string> {
  return { id: recordId(r), ...toRow(r) };
}

function kindFilter(p: Params): ((r: Tagged) => boolean) | undefined {
  const kind = p.kind;
  return kind ? (r) => r.type === 'decision' && r.kind === kind : undefined;
}

export function registerConsoleApi(app: FastifyInstance, d: ConsoleApiDeps): VerifyJobs {
  const now = d.now ?? (() => new Date());
  const jobs = new VerifyJobs(() => d.trail.chains(), d.verifierKey);
  const q = (query: unknown, extra: readonly string[]): Params =>
    readParams(query, [...FILTER_KEYS, ...extra]);

  app.get('/console/api/whoami', async (req) => {
    const id = req.modgate!.ctx.identity;
    return { id: id.id, method: id.method, roles: id.roles ?? [] };
  });

  app.get('/console/api/overview', async (req) => {
    const p = readParams(req.query, ['since', 'until', 'buckets']);
    const f = filterOf(
      { since: p.since ?? OVERVIEW_DEFAULT, ...(p.until ? { until: p.until } : {}) },
      now(),
    );
    const to = f.until ?? now();
    const n = intParam(p, 'buckets', 48, MAX_BUCKETS);
    const buckets = await countBuckets(await d.trail.records(f), f.since!, to, n);
    return {
      from: f.since!.toISOString(),
      to: to.toISOString(),
      buckets,
      gateway: await d.status(),
    };
  });

  app.get('/console/api/decisions', async (req) => {
    const p = q(req.query, ['kind', 'cursor', 'limit']);
    const f: QueryFilter = { ...filterOf(p, now()), types: ['decision'] };
    const limit = intParam(p, 'limit', 100, MAX_PAGE);
    const extra = kindFilter(p);
    const page = await d.trail.page(f, {
      limit,
      ...(p.cursor ? { cursor: p.cursor } : {}),
      ...(extra ? { extra } : {}),
    });
    return { rows: page.records.map(row), ...(page.next ? { next: page.next } : {}) };
  });

  app.get('/console/api/record', async (req) => {
    const p = readParams(req.query, ['id']);
    if (!p.id) throw bad('parameter id is required', 'id');
    const { replica, seq } = parseRecordId(p.id);
    const rec = await d.trail.record(replica, seq);
    if (!rec) throw new ModgateError('NOT_FOUND', `no record ${p.id}`);
    return { id: recordId(rec), record: rec };
  });

  app.get('/console/api/modules', async (req) => {
    const p = readParams(req.query, ['module', 'since', 'until']);
    const f: QueryFilter = { ...filterOf(p, now()), types: ['decision'] };
    return inventory(await d.trail.records(f), MAX_MODULES);
  });

  app.get('/console/api/module', async (req) => {
    const p = readParams(req.query, ['module', 'since', 'until']);
    if (!p.module || /[*?]/.test(p.module))
      throw bad('parameter module must be one module path', 'module');
    const f: QueryFilter = { ...filterOf(p, now()), types: ['decision'] };
    return {
      module: p.module,
      versions: await moduleVersions(await d.trail.records(f), MAX_VERSIONS),
    };
  });

  app.get('/console/api/integrity', async (req) => {
    readParams(req.query, []);
    const chains = await d.trail.chains();
    const views = await Promise.all(
      chains.map(async (c) => ({
        replica: c.replica ?? '',
        checkpoints: await lastCheckpoints(c, d.verifierKey),
      })),
    );
    return { chains: views, verify: jobs.last ?? null };
  });

  app.post('/console/api/integrity/verify', async (req, reply) => {
    readParams(req.query, []);
    return reply.code(202).send(jobs.start());
  });

  app.get('/console/api/integrity/verify', async (req) => {
    readParams(req.query, []);
    return jobs.last ?? { state: 'none' };
  });

  // The same builders and filters as `modgate audit export` and `audit query --format csv`.
  app.get('/console/api/export/sbom', async (req, reply) => {
    const p = readParams(req.query, ['since', 'until']);
    const f = filterOf(p, now());
    const bom = await buildCycloneDx(await d.trail.records(f), {
      ...(f.since ? { since: f.since } : {}),
      ...(f.until ? { until: f.until } : {}),
      toolVersion: d.toolVersion,
    });
    return download(reply, 'application/vnd.cyclonedx+json', 'modgate-sbom.cdx.json').send(
      `${JSON.stringify(bom, null, 2)}\n`,
    );
  });

  app.get('/console/api/export/csv', async (req, reply) => {
    const f = filterOf(q(req.query, []), now());
    const chains = await d.trail.chains();
    const replicas = chains.some((c) => c.replica !== undefined);
    // Streamed: an export of the whole trail is never held in memory.
    const body = Readable.from(formatRecords(await d.trail.records(f), 'csv', { replicas }));
    return download(reply, 'text/csv; charset=utf-8', 'modgate-audit.csv').send(body);
  });

  app.all('/console/api/*', async () => {
    throw new ModgateError('NOT_FOUND', 'no such console API');
  });
  return jobs;
}

function download(reply: FastifyReply, type: string, name: string): FastifyReply {
  return reply.type(type).header('content-disposition', `attachment; filename="${name}"`);
}
