import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import tar from 'tar-stream';
import YAML from 'yaml';
import { ModgateError } from '../errors.js';
import { compileData, type CompiledData } from './data.js';
import type { PolicyInput } from './input.js';
import { isBundle, SourceWatcher } from './watch.js';
import { warmUp } from './warmup.js';

export interface Reason {
  code: string;
  message: string;
}

export interface RawDecision {
  allow: boolean;
  deny: Reason[];
  warn: Reason[];
}

export interface PolicySource {
  /** A policies folder holding build/policy.wasm, or an opa bundle .tar.gz (/policy.wasm, /data.json). */
  path: string;
  /** YAML or JSON data; default: <folder>/data.yaml, or the bundle's data.json. */
  dataFile?: string;
}

interface Loaded {
  policy: LoadedPolicy;
  data: CompiledData;
  policyRevision: string;
  dataRevision: string;
  sourceRevision: string | undefined;
}

export interface ReloadEvent {
  ok: boolean;
  error?: string;
  policyRevision: string;
  dataRevision: string;
}

const ENTRYPOINT = 'modgate/decision';
/** A bundle unpacking to more than this is refused (a gzip bomb guard). */
const MAX_BUNDLE_BYTES = 256 << 20;

/**
 * Evaluates the compiled Rego policy (opa-wasm). Data is loaded with setData
 * as data.settings. Policy and data are reloaded when their files change; a
 * bad new file is rejected and the last good one stays. Evaluation fails
 * closed: an engine error, an undefined result or a malformed decision is a
 * denial with the code POLICY_ERROR.
 */
export class PolicyEngine {
  private current: Loaded;
  private watcher: SourceWatcher | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly src: PolicySource,
    loaded: Loaded,
    private readonly onReload?: (e: ReloadEvent) => void,
  ) {
    this.current = loaded;
  }

  static async load(src: PolicySource, onReload?: (e: ReloadEvent) => void): Promise<PolicyEngine> {
    const watcher = new SourceWatcher(src, () => void engine.reload());
    const engine = new PolicyEngine(src, await loadAll(src), onReload);
    engine.watcher = watcher;
    return engine;
  }

  /** The first 16 hex digits of the sha256 of the compiled policy (policy.wasm). */
  get policyRevision(): string {
    return this.current.policyRevision;
  }

  /** The first 16 hex digits of the sha256 of the data file's bytes (or the bundle's data.json). */
  get dataRevision(): string {
    return this.current.dataRevision;
  }

  /** The Rego sources' hash from build/REVISION, or the bundle manifest's revision, when there is one. */
  get sourceRevision(): string | undefined {
    return this.current.sourceRevision;
  }

  /** An opa bundle (an operator's own rules) rather than a policies folder. */
  get bundled(): boolean {
    return isBundle(this.src.path);
  }

  get data(): CompiledData {
    return this.current.data;
  }

  /** Evaluates modgate/decision. Never throws: any failure is a POLICY_ERROR denial. */
  evaluate(input: PolicyInput): RawDecision {
    try {
      const rs = this.current.policy.evaluate(input, ENTRYPOINT) as Array<{ result?: unknown }>;
      return checkDecision(rs?.[0]?.result);
    } catch (err) {
      const message =
        err instanceof ModgateError
          ? err.message
          : `policy engine error: ${(err as Error).message}`;
      return { allow: false, deny: [{ code: 'POLICY_ERROR', message }], warn: [] };
    }
  }

  /**
   * Reloads policy and data now and swaps them in at once; keeps the old ones
   * when the new ones are bad. Reloads run one at a time, in call order.
   */
  reload(): Promise<boolean> {
    const run = this.queue.then(() => this.reloadNow());
    this.queue = run;
    return run;
  }

  private async reloadNow(): Promise<boolean> {
    this.watcher?.mark();
    try {
      this.current = await loadAll(this.src);
      this.onReload?.({
        ok: true,
        policyRevision: this.policyRevision,
        dataRevision: this.dataRevision,
      });
      return true;
    } catch (err) {
      this.onReload?.({
        ok: false,
        error: (err as Error).message,
        policyRevision: this.policyRevision,
        dataRevision: this.dataRevision,
      });
      return false;
    }
  }

  /**
   * Reloads when the policy or data file changes (see SourceWatcher: events
   * debounced by debounceMs, and a stat poll every pollMs).
   */
  watch(debounceMs = 200, pollMs = 2000): this {
    this.watcher?.start(debounceMs, pollMs);
    return this;
  }

  close(): void {
    this.watcher?.stop();
  }
}

function checkDecision(r: unknown): RawDecision {
  const d = r as Partial<RawDecision> | undefined;
  const reasons = (x: unknown): x is Reason[] =>
    Array.isArray(x) &&
    x.every(
      (e) =>
        e && typeof (e as Reason).code === 'string' && typeof (e as Reason).message === 'string',
    );
  if (!d || typeof d.allow !== 'boolean' || !reasons(d.deny) || !reasons(d.warn)) {
    throw new ModgateError(
      'POLICY_ERROR',
      `the policy returned ${d === undefined ? 'no decision (undefined)' : 'a malformed decision'}`,
    );
  }
  if (d.allow !== (d.deny.length === 0))
    throw new ModgateError(
      'POLICY_ERROR',
      'the policy decision is inconsistent: allow disagrees with deny',
    );
  return { allow: d.allow, deny: d.deny, warn: d.warn };
}

async function loadAll(src: PolicySource): Promise<Loaded> {
  let wasm: Buffer;
  let bundleData: unknown;
  let sourceRevision: string | undefined;
  if (isBundle(src.path)) {
    ({ wasm, data: bundleData, revision: sourceRevision } = await readBundle(src.path));
  } else {
    sourceRevision = await readFile(path.join(src.path, 'build', 'REVISION'), 'utf8').then(
      (t) => t.trim() || undefined,
      () => undefined,
    );
    wasm = await readFile(path.join(src.path, 'build', 'policy.wasm')).catch(
      (err: NodeJS.ErrnoException) => {
        throw new ModgateError(
          'POLICY_LOAD_FAILED',
          `cannot read ${path.join(src.path, 'build', 'policy.wasm')}: ${err.code ?? err.message} (run npm run build:policy)`,
        );
      },
    );
  }
  const dataFile =
    src.dataFile ?? (isBundle(src.path) ? undefined : path.join(src.path, 'data.yaml'));
  const rawData = dataFile
    ? await readData(dataFile)
    : {
        doc: (bundleData as { settings?: unknown })?.settings ?? bundleData ?? {},
        text: JSON.stringify(bundleData ?? {}),
      };
  const data = compileData(rawData.doc);
  let policy: LoadedPolicy;
  try {
    policy = await loadPolicy(wasm, { initial: 5, maximum: 1024 });
    policy.setData({ settings: data.raw });
  } catch (err) {
    throw new ModgateError(
      'POLICY_LOAD_FAILED',
      `cannot load the compiled policy: ${(err as Error).message}`,
    );
  }
  const entrypoints = (policy as unknown as { entrypoints: Record<string, number> }).entrypoints;
  if (!(ENTRYPOINT in entrypoints))
    throw new ModgateError(
      'POLICY_LOAD_FAILED',
      `the compiled policy has no ${ENTRYPOINT} entrypoint`,
    );
  try {
    warmUp((input) => policy.evaluate(input, ENTRYPOINT), data);
  } catch {
    // A policy that fails on these inputs fails on real ones too, as POLICY_ERROR.
  }
  return {
    policy,
    data,
    policyRevision: sha(wasm),
    dataRevision: sha(rawData.text),
    sourceRevision,
  };
}

async function readData(file: string): Promise<{ doc: unknown; text: string }> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ModgateError(
      'POLICY_DATA_INVALID',
      `cannot read policy data ${file}: ${err.code ?? err.message}`,
    );
  });
  try {
    return { doc: file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text), text };
  } catch (err) {
    throw new ModgateError(
      'POLICY_DATA_INVALID',
      `policy data ${file} does not parse: ${(err as Error).message}`,
    );
  }
}

async function readBundle(
  file: string,
): Promise<{ wasm: Buffer; data: unknown; revision: string | undefined }> {
  const size = (await stat(file)).size;
  if (size > 64 << 20)
    throw new ModgateError('POLICY_LOAD_FAILED', `policy bundle ${file} is over 64 MiB`);
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  let total = 0;
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\/+/, '');
    // Only the files modgate reads are kept; the rest is skipped unread.
    const keep = name === 'policy.wasm' || name === 'data.json' || name === '.manifest';
    const chunks: Buffer[] = [];
    stream.on('data', (data: unknown) => {
      const c = data as Buffer;
      total += c.length;
      if (total > MAX_BUNDLE_BYTES)
        extract.destroy(new Error(`it unpacks to over ${MAX_BUNDLE_BYTES >> 20} MiB`));
      else if (keep) chunks.push(c);
    });
    stream.on('end', () => {
      if (keep && header.type === 'file') files.set(name, Buffer.concat(chunks));
      next();
    });
    stream.resume();
  });
  const done = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from(await readFile(file))
    .pipe(createGunzip())
    .on('error', (e) => extract.destroy(e))
    .pipe(extract);
  await done.catch((err: Error) => {
    throw new ModgateError(
      'POLICY_LOAD_FAILED',
      `policy bundle ${file} is not a readable tar.gz: ${err.message}`,
    );
  });
  const wasm = files.get('policy.wasm');
  if (!wasm)
    throw new ModgateError('POLICY_LOAD_FAILED', `policy bundle ${file} has no /policy.wasm`);
  const json = (name: string): unknown => {
    const b = files.get(name);
    if (!b) return undefined;
    try {
      return JSON.parse(b.toString('utf8'));
    } catch (err) {
      throw new ModgateError(
        'POLICY_LOAD_FAILED',
        `policy bundle ${file}: /${name} is not JSON: ${(err as Error).message}`,
      );
    }
  };
  const manifest = json('.manifest') as { revision?: unknown } | undefined;
  const revision =
    typeof manifest?.revision === 'string' && manifest.revision ? manifest.revision : undefined;
  return { wasm, data: json('data.json') ?? {}, revision };
}

function sha(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 16);
}
