/**
 * `modgate import DIR`: loads an export into this gateway's data folder with
 * the gateway stopped (it takes the data folder's lock, as serve does). The
 * export is not trusted: it becomes, for the import only, the gateway's one
 * upstream and checksum database (src/prefetch/export-server.ts), and every
 * artifact is asked of the gateway itself, in process, through its front door
 * and src/goproxy/flow.ts: zip rules, h1 of zip and go.mod against the
 * checksum database (its signed head verified with the configured key, each
 * record proven in the tree by tiles) or the TOFU ledger for private modules,
 * the policy decision and the audit record, purpose `import`. What fails is
 * refused and not stored. The manifest only says what to ask for.
 *
 * | code           | meaning                                                         |
 * |----------------|-----------------------------------------------------------------|
 * | EXPORT_INVALID | no readable manifest, or one naming an invalid module version   |
 * | DATA_DIR_BUSY  | a running gateway (or another import) holds the data folder     |
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ModgateConfig } from '../config/types.js';
import type { Identity } from '../contracts.js';
import { ModgateError } from '../errors.js';
import { checkModule, escapePath, escapeVersion } from '../integrity/module.js';
import { escapeLookupElem } from '../integrity/sumdb/support.js';
import { parseGoSumdb } from '../integrity/sumdb/gosumdb.js';
import { canonicalVersion } from '../goproxy/paths.js';
import { PURPOSE_HEADER } from '../http/purpose.js';
import { startGateway } from '../main.js';
import { createRouter } from '../upstream-wiring.js';
import { keepLookup } from '../upstream/sumdb-local.js';
import { codeOf } from './gateway-client.js';
import { EXPORT_FORMAT, MANIFEST, type ManifestEntry } from './export.js';
import { startExportServer } from './export-server.js';
import type { Kind } from './inputs.js';

export const IMPORT_IDENTITY: Identity = { id: 'modgate-import', method: 'anonymous', groups: [] };

export interface ImportOutcome {
  module: string;
  version: string;
  kind: Kind | 'list';
  status: 'imported' | 'refused';
  httpStatus: number;
  code?: string;
  reason?: string;
}

/** The manifest's module versions, checked as the go command checks them. */
export async function readManifest(dir: string): Promise<ManifestEntry[]> {
  const file = path.join(dir, MANIFEST);
  const bad = (why: string): ModgateError => new ModgateError('EXPORT_INVALID', `${file}: ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw bad(`not a readable export manifest (${(err as Error).message})`);
  }
  const m = raw as { format?: unknown; modules?: unknown };
  if (m?.format !== EXPORT_FORMAT || !Array.isArray(m.modules))
    throw bad(`no "format": "${EXPORT_FORMAT}" with "modules"`);
  return (m.modules as Array<Partial<ManifestEntry>>).map((e, i) => {
    const where = `modules[${i}]`;
    if (typeof e?.module !== 'string' || typeof e.version !== 'string')
      throw bad(`${where} has no module and version`);
    try {
      checkModule(e.module, e.version);
    } catch (err) {
      throw bad(`${where}: ${(err as Error).message}`);
    }
    if (canonicalVersion(e.version) !== e.version) throw bad(`${where}: version not canonical`);
    const kinds = Array.isArray(e.kinds) ? e.kinds : [];
    if (!kinds.every((k) => k === 'info' || k === 'mod' || k === 'zip') || !kinds.includes('mod'))
      throw bad(`${where}: kinds must be info, mod and zip (mod at least)`);
    return e as ManifestEntry;
  });
}

/** The config the import runs with: the export as the only upstream and database, no socket. */
function importConfig(config: ModgateConfig, upstream: string): ModgateConfig {
  const spec = parseGoSumdb(config.sumdb);
  return {
    ...config,
    upstream,
    allowHttpUpstream: true,
    routes: config.routes.map((r) => {
      const { git: _git, ...rest } = r;
      return { ...rest, source: 'proxy' as const, upstream };
    }),
    mirrors: { ...config.mirrors, groups: [], pipeGroups: 'ordered', probeIntervalMs: 0 },
    sumdb: spec.off ? 'off' : `${spec.verifierKey} ${upstream}/sumdb/${spec.name}`,
    tls: { ...config.tls, insecureHttp: true },
    vulndb: { ...config.vulndb, enabled: false },
    // Artifacts are asked one at a time: one policy worker decides them all.
    policy: { ...config.policy, workers: 1 },
    listen: '127.0.0.1:0',
  };
}

export async function importExport(
  config: ModgateConfig,
  dir: string,
  logger: Logger,
  onOutcome: (o: ImportOutcome) => void = () => undefined,
): Promise<ImportOutcome[]> {
  const modules = await readManifest(dir);
  const spec = parseGoSumdb(config.sumdb);
  const name = spec.off ? undefined : spec.name;
  const server = await startExportServer(dir, name);
  const outcomes: ImportOutcome[] = [];
  try {
    const gw = await startGateway(importConfig(config, server.url), {
      listen: false,
      identify: () => IMPORT_IDENTITY,
      logger,
    });
    try {
      const ask = async (p: string) =>
        gw.app.inject({ method: 'GET', url: p, headers: { [PURPOSE_HEADER]: 'import' } });
      // The export's newest signed head first, so that every record is proven in it.
      if (name) await ask(`/sumdb/${name}/latest`);
      const router = createRouter(config);
      for (const m of modules) {
        const base = `/${escapePath(m.module)}/@v/`;
        let ok = true;
        for (const kind of m.kinds) {
          const res = await ask(`${base}${escapeVersion(m.version)}.${kind}`);
          const code = res.headers['x-modgate-error'];
          const o = outcome(m, kind, res.statusCode, code ? String(code) : undefined, res.body);
          ok &&= o.status === 'imported';
          outcomes.push(o);
          onOutcome(o);
        }
        if (!ok || !name || router.skipsSumdb(m.module)) continue;
        // The lookup the gateway verified is kept for its relay (src/upstream/sumdb-local.ts).
        const lookup = `/lookup/${escapeLookupElem(m.module, 'path')}@${escapeLookupElem(m.version, 'version')}`;
        const body = server.lookups.get(lookup);
        if (body) await keepLookup(config.dataDir, name, lookup, body);
      }
      // The lists, for the facts the gateway's policy reads (and served when it has no upstream).
      for (const module of new Set(modules.map((m) => m.module)))
        await ask(`/${escapePath(module)}/@v/list`);
    } finally {
      await gw.close();
    }
  } finally {
    await server.close();
  }
  return outcomes;
}

function outcome(
  m: ManifestEntry,
  kind: Kind,
  status: number,
  header: string | string[] | undefined,
  body: string,
): ImportOutcome {
  if (status === 200)
    return { module: m.module, version: m.version, kind, status: 'imported', httpStatus: 200 };
  const code = codeOf(header, body);
  return {
    module: m.module,
    version: m.version,
    kind,
    status: 'refused',
    httpStatus: status,
    ...(code ? { code } : {}),
    reason: body.trim().slice(0, 4096),
  };
}
