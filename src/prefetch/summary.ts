/**
 * The prefetch summary (`--summary FILE`): one entry per artifact with what
 * happened to it, rewritten atomically after every change so that an
 * interrupted run leaves a complete file. A run that finds one resumes from
 * it: artifacts already `fetched` are skipped, `refused` and `failed` ones are
 * asked again.
 *
 * | code                     | meaning                                           |
 * |--------------------------|---------------------------------------------------|
 * | PREFETCH_SUMMARY_INVALID | the file exists but is not a prefetch summary     |
 */
import { readFile } from 'node:fs/promises';
import { ModgateError } from '../errors.js';
import { writeFileAtomic } from '../storage/atomic.js';
import type { Kind, Target } from './inputs.js';

export const SUMMARY_FORMAT = 'modgate-prefetch-summary/1';

export type Status = 'fetched' | 'refused' | 'failed';

export interface Entry {
  module: string;
  version: string;
  kind: Kind;
  status: Status;
  /** The gateway's HTTP status (absent when no answer came). */
  httpStatus?: number;
  /** The gateway's error code (x-modgate-error, else the body's first `CODE:`). */
  code?: string;
  /** The gateway's plain-text reason (or the network error). */
  reason?: string;
  bytes?: number;
  sha256?: string;
  at: string;
}

export interface Summary {
  format: typeof SUMMARY_FORMAT;
  gateway: string;
  updatedAt: string;
  counts: Record<Status, number>;
  artifacts: Entry[];
}

export interface Artifact {
  module: string;
  version: string;
  kind: Kind;
}

export const keyOf = (a: Artifact): string => `${a.module}@${a.version} ${a.kind}`;

/** The summary in `file`, undefined when there is none; a file of another shape is refused. */
export async function loadSummary(file: string): Promise<Summary | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const invalid = (why: string): ModgateError =>
    new ModgateError(
      'PREFETCH_SUMMARY_INVALID',
      `${file} is not a prefetch summary (${why}); move it away or name another --summary`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw invalid('not JSON');
  }
  const s = raw as Partial<Summary>;
  if (!s || s.format !== SUMMARY_FORMAT || !Array.isArray(s.artifacts))
    throw invalid(`no "format": "${SUMMARY_FORMAT}" with "artifacts"`);
  for (const e of s.artifacts as Partial<Entry>[]) {
    if (
      typeof e?.module !== 'string' ||
      typeof e.version !== 'string' ||
      !['info', 'mod', 'zip'].includes(e.kind as string) ||
      !['fetched', 'refused', 'failed'].includes(e.status as string)
    )
      throw invalid(`malformed entry ${JSON.stringify(e).slice(0, 200)}`);
  }
  return s as Summary;
}

/** Writes the summary atomically (temp file, fsync, rename). */
export async function saveSummary(file: string, s: Summary): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(s, null, 2)}\n`);
}

/** Every artifact of the targets, in order. */
export function artifactsOf(targets: readonly Target[]): Artifact[] {
  return targets.flatMap((t) =>
    t.kinds.map((kind) => ({ module: t.module, version: t.version, kind })),
  );
}

/**
 * Splits the artifacts into those to fetch and the `fetched` entries of a
 * previous summary that are kept (when `keep` agrees, e.g. the exported file
 * is still there with its sha256). refused and failed are always fetched again.
 */
export async function plan(
  all: readonly Artifact[],
  previous: Summary | undefined,
  keep: (e: Entry) => Promise<boolean> = async () => true,
): Promise<{ todo: Artifact[]; kept: Entry[] }> {
  const before = new Map((previous?.artifacts ?? []).map((e) => [keyOf(e), e]));
  const todo: Artifact[] = [];
  const kept: Entry[] = [];
  for (const a of all) {
    const e = before.get(keyOf(a));
    if (e?.status === 'fetched' && (await keep(e))) kept.push(e);
    else todo.push(a);
  }
  return { todo, kept };
}

/** A summary of these entries (in the artifacts' order), with its counts. */
export function summarize(gateway: string, entries: readonly Entry[], now = new Date()): Summary {
  const counts: Record<Status, number> = { fetched: 0, refused: 0, failed: 0 };
  for (const e of entries) counts[e.status]++;
  return {
    format: SUMMARY_FORMAT,
    gateway,
    updatedAt: now.toISOString(),
    counts,
    artifacts: [...entries],
  };
}

/** The exit code: 2 when any artifact failed, 3 when any was refused, else 0. */
export function exitCode(s: Summary): number {
  return s.counts.failed > 0 ? 2 : s.counts.refused > 0 ? 3 : 0;
}
