import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
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
}

const ENTRYPOINT = 'modgate/decision';

/**
 * Evaluates the compiled Rego policy (opa-wasm). Data is loaded with setData
 * as data.settings. Policy and data are reloaded when their files change; a
 * bad new file is rejected and the last good one stays. Evaluation fails
 * closed: an engine error, an undefined result or a malformed decision is a
 * denial with the code POLICY_ERROR.
 */
export class PolicyEngine {
  private current: Loaded;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly src: PolicySource,
    loaded: Loaded,
    private readonly onReload?: (e: {
      ok: boolean;
      error?: string;
      policyRevision: string;
      dataRevision: string;
    }) => void,
  ) {
    this.current = loaded;
  }

  static async load(src: PolicySource, onReload?: PolicyEngine['onReload']): Promise<PolicyEngine> {
    return new PolicyEngine(src, await loadAll(src), onReload);
  }

  get policyRevision(): string {
    return this.current.policyRevision;
  }

  get dataRevision(): string {
    return this.current.dataRevision;
  }

  get data(): CompiledData {
    return this.current.data;
  }

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

  /** Reloads policy and data now; keeps the old ones when the new ones are bad. */
  async reload(): Promise<boolean> {
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

  /** Watches the policy and data files and reloads on change (debounced). */
  watch(debounceMs = 200): this {
    for (const file of watchedFiles(this.src)) {
      const dir = path.dirname(file);
      const w = watch(dir, { persistent: false }, (_e, name) => {
        if (name !== null && String(name) !== path.basename(file)) return;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.reload(), debounceMs);
      });
      w.on('error', () => undefined);
      this.watchers.push(w);
    }
    return this;
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
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

function isBundle(p: string): boolean {
  return p.endsWith('.tar.gz') || p.endsWith('.tgz');
}

function watchedFiles(src: PolicySource): string[] {
  const files = isBundle(src.path) ? [src.path] : [path.join(src.path, 'build', 'policy.wasm')];
  const data = src.dataFile ?? (isBundle(src.path) ? undefined : path.join(src.path, 'data.yaml'));
  return data ? [...files, data] : files;
}

async function loadAll(src: PolicySource): Promise<Loaded> {
  let wasm: Buffer;
  let bundleData: unknown;
  if (isBundle(src.path)) {
    ({ wasm, data: bundleData } = await readBundle(src.path));
  } else {
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
  return { policy, data, policyRevision: sha(wasm), dataRevision: sha(rawData.text) };
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

async function readBundle(file: string): Promise<{ wasm: Buffer; data: unknown }> {
  const size = (await stat(file)).size;
  if (size > 64 << 20)
    throw new ModgateError('POLICY_LOAD_FAILED', `policy bundle ${file} is over 64 MiB`);
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      files.set(header.name.replace(/^\/+/, ''), Buffer.concat(chunks));
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
  const data = files.get('data.json');
  return { wasm, data: data ? JSON.parse(data.toString('utf8')) : {} };
}

function sha(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 16);
}
