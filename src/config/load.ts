import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import YAML from 'yaml';
import { ModgateError } from '../errors.js';
import { routeViolations } from './routes.js';
import { configSchema } from './schema.js';
import type { ModgateConfig } from './types.js';

export type RawConfig = Record<string, unknown>;

export interface LoadOptions {
  /** Path of modgate.yaml; default MODGATE_CONFIG, else none. */
  file?: string;
  /** Values from command-line flags, as dotted paths (e.g. "tls.insecureHttp"). */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Reads `go env GOPROXY` when GOPROXY is unset; injectable for tests. */
  goEnv?: (name: string) => Promise<string | undefined>;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validate = ajv.compile(configSchema);

/**
 * Loads the effective config. Precedence, lowest first: schema defaults, the
 * standard Go environment (GOPROXY, GOSUMDB, GOPRIVATE, GONOPROXY, GONOSUMDB),
 * the config file, MODGATE_* variables, command-line flags.
 */
export async function loadConfig(opts: LoadOptions = {}): Promise<ModgateConfig> {
  const env = opts.env ?? process.env;
  const merged: RawConfig = await goEnvironment(env, opts.goEnv ?? defaultGoEnv);
  const file = opts.file ?? env.MODGATE_CONFIG;
  if (file) deepMerge(merged, await readConfigFile(file));
  for (const [p, v] of modgateEnv(env)) setPath(merged, p, v);
  for (const [p, v] of Object.entries(opts.flags ?? {})) if (v !== undefined) setPath(merged, p, v);
  return validateConfig(merged);
}

export function validateConfig(raw: RawConfig): ModgateConfig {
  const copy = structuredClone(raw);
  const valid = validate(copy);
  const violations = valid
    ? routeViolations((copy as unknown as ModgateConfig).routes)
    : (validate.errors ?? []).map((e) => {
        const where = (e.instancePath || '/').replace(/^\//, '').replaceAll('/', '.') || '(root)';
        const extra =
          e.keyword === 'additionalProperties' ? ` '${String(e.params.additionalProperty)}'` : '';
        const allowed =
          e.keyword === 'enum' ? `: ${(e.params.allowedValues as unknown[]).join(', ')}` : '';
        return `${where}: ${e.message ?? 'invalid'}${extra}${allowed}`;
      });
  if (violations.length > 0) {
    throw new ModgateError(
      'CONFIG_INVALID',
      `invalid configuration:\n  ${violations.join('\n  ')}`,
      {
        violations,
      },
    );
  }
  return copy as unknown as ModgateConfig;
}

async function readConfigFile(file: string): Promise<RawConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ModgateError(
      'CONFIG_UNREADABLE',
      `cannot read config file ${file}: ${(err as Error).message}`,
    );
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new ModgateError('CONFIG_INVALID', `${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ModgateError('CONFIG_INVALID', `${file}: the top level must be a mapping`);
  }
  return doc as RawConfig;
}

async function goEnvironment(
  env: NodeJS.ProcessEnv,
  goEnv: (name: string) => Promise<string | undefined>,
): Promise<RawConfig> {
  const out: RawConfig = {};
  const goproxy = env.GOPROXY ?? (await goEnv('GOPROXY'));
  if (goproxy) out.upstream = goproxy;
  const privatePatterns = [env.GOPRIVATE, env.GONOPROXY].filter(Boolean).join(',');
  if (privatePatterns) out.private = privatePatterns;
  const nosum = [env.GONOSUMDB, env.GOPRIVATE].filter(Boolean).join(',');
  if (nosum) out.noSumdb = nosum;
  if (env.GOSUMDB) out.sumdb = env.GOSUMDB;
  return out;
}

async function defaultGoEnv(name: string): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)('go', ['env', name], { timeout: 10_000 });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** MODGATE_TLS__INSECURE_HTTP=true -> ["tls.insecureHttp", true]. */
export function modgateEnv(env: NodeJS.ProcessEnv): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(env)) {
    if (
      !k.startsWith('MODGATE_') ||
      k === 'MODGATE_CONFIG' ||
      k === 'MODGATE_TESTDATA' ||
      // Client-side variables of CLI commands (the token of prefetch and policy check, debug output).
      k === 'MODGATE_TOKEN' ||
      k === 'MODGATE_DEBUG' ||
      v === undefined
    )
      continue;
    const p = k
      .slice('MODGATE_'.length)
      .split('__')
      .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()))
      .join('.');
    out.push([p, parseScalar(v)]);
  }
  return out;
}

function parseScalar(v: string): unknown {
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (/^-?\d+$/.test(v)) return Number(v);
  if (v.startsWith('[') || v.startsWith('{')) {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

export function setPath(obj: RawConfig, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur: RawConfig = obj;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[part] = {};
    cur = cur[part] as RawConfig;
  }
  cur[parts[parts.length - 1] as string] = value;
}

function deepMerge(target: RawConfig, src: RawConfig): void {
  for (const [k, v] of Object.entries(src)) {
    const t = target[k];
    if (isPlain(v) && isPlain(t)) deepMerge(t, v);
    else target[k] = v;
  }
}

function isPlain(v: unknown): v is RawConfig {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
