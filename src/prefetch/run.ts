/**
 * One `modgate prefetch` run: every artifact of the targets asked of the
 * gateway with bounded concurrency, each outcome written to the summary as it
 * comes (so an interrupted run can resume), and with an export directory the
 * GOPROXY tree, its manifest and the checksum-database evidence.
 */
import { createHash } from 'node:crypto';
import { escapePath, escapeVersion } from '../integrity/module.js';
import { mapLimit } from '../cli/pool.js';
import type { GatewayClient } from './gateway-client.js';
import type { Target } from './inputs.js';
import { artifactFile, exportSumdb, finishExport, stillExported, writeStream } from './export.js';
import type { Manifest } from './export.js';
import {
  artifactsOf,
  keyOf,
  loadSummary,
  plan,
  saveSummary,
  summarize,
  type Artifact,
  type Entry,
  type Summary,
} from './summary.js';

export interface RunOptions {
  gateway: GatewayClient;
  targets: readonly Target[];
  concurrency: number;
  summaryFile: string;
  exportDir?: string;
  /** The checksum database whose evidence goes into the export (none: sumdb off). */
  sumdb?: { name: string; verifierKey: string };
  /** Modules the gateway never looks up in the checksum database (private, GONOSUMDB). */
  skipsSumdb: (module: string) => boolean;
  progress: { tick(bytes: number): void; note(line: string): void; end(): void };
}

export interface RunResult {
  summary: Summary;
  manifest?: Manifest;
  /** Exported module versions whose checksum-database evidence could not be had. */
  noEvidence: Array<{ module: string; version: string; reason: string }>;
}

export async function runPrefetch(o: RunOptions): Promise<RunResult> {
  const previous = await loadSummary(o.summaryFile);
  const all = artifactsOf(o.targets);
  const dir = o.exportDir;
  const { todo, kept } = await plan(all, previous, dir ? (e) => stillExported(dir, e) : undefined);
  if (kept.length)
    o.progress.note(
      `resuming from ${o.summaryFile}: ${kept.length} artifact(s) already fetched, skipped; ${todo.length} to fetch`,
    );
  const results = new Map<string, Entry>(kept.map((e) => [keyOf(e), e]));
  const ordered = (): Entry[] => all.flatMap((a) => results.get(keyOf(a)) ?? []);
  const saver = new Saver(() => saveSummary(o.summaryFile, summarize(o.gateway.base, ordered())));
  await saver.save();
  try {
    await mapLimit(todo, o.concurrency, async (a) => {
      const e = await fetchOne(o.gateway, a, dir);
      results.set(keyOf(a), e);
      o.progress.tick(e.bytes ?? 0);
      if (e.status !== 'fetched')
        o.progress.note(
          `${e.status}: ${a.module}@${a.version} .${a.kind}: ${e.httpStatus ?? '-'} ${e.code ?? ''} ${e.reason?.split('\n').join(' | ') ?? ''}`.replace(
            /\s+/g,
            ' ',
          ),
        );
      saver.request();
    });
  } finally {
    await saver.flush();
    o.progress.end();
  }
  const summary = summarize(o.gateway.base, ordered());
  if (!dir) return { summary, noEvidence: [] };
  const manifest = await finishExport(dir, o.gateway.base, ordered(), o.sumdb?.name);
  const checked = manifest.modules.filter((m) => !o.skipsSumdb(m.module));
  const noEvidence =
    o.sumdb && checked.length ? await exportSumdb(dir, o.gateway, o.sumdb, checked) : [];
  return { summary, manifest, noEvidence };
}

/** A 200 is fetched; a refusal of the module (policy, integrity, not found) is refused; the rest failed. */
async function fetchOne(gw: GatewayClient, a: Artifact, dir: string | undefined): Promise<Entry> {
  const p = `/${escapePath(a.module)}/@v/${escapeVersion(a.version)}.${a.kind}`;
  const answer = await gw.get(p, (body) =>
    dir ? writeStream(artifactFile(dir, a.module, a.version, a.kind), body) : digest(body),
  );
  const at = new Date().toISOString();
  if (answer.ok) {
    const r = answer.result as { size: number; sha256: string };
    return { ...a, status: 'fetched', httpStatus: 200, bytes: r.size, sha256: r.sha256, at };
  }
  const refused =
    answer.status !== undefined && !answer.transient && ![401, 407].includes(answer.status);
  return {
    ...a,
    status: refused ? 'refused' : 'failed',
    ...(answer.status !== undefined ? { httpStatus: answer.status } : {}),
    ...(answer.code ? { code: answer.code } : {}),
    reason: answer.reason,
    at,
  };
}

async function digest(body: AsyncIterable<Buffer>): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of body) {
    h.update(c);
    size += c.length;
  }
  return { size, sha256: h.digest('hex') };
}

/** One summary write at a time; requests made while one runs coalesce into the next. */
class Saver {
  private running: Promise<void> | undefined;
  private dirty = false;
  private failure: unknown;

  constructor(private readonly write: () => Promise<void>) {}

  save(): Promise<void> {
    return this.write();
  }

  request(): void {
    this.dirty = true;
    this.running ??= this.loop().finally(() => (this.running = undefined));
  }

  private async loop(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      await this.write().catch((err: unknown) => (this.failure ??= err));
    }
  }

  async flush(): Promise<void> {
    await this.running;
    await this.write();
    if (this.failure) throw this.failure;
  }
}
