import { readPasswordFile } from '../state/open.js';
import type { ModgateConfig } from './types.js';

const SECRET_KEYS = new Set(['password', 'token', 'sha256']);
const MARK = '[redacted]';
// scheme://user[:password]@ : the userinfo is dropped whatever it holds.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;
// Secrets shorter than this would turn ordinary words into [redacted].
const MIN_SECRET = 4;

/** Removes the userinfo of every URL in a text. */
export function scrubUserinfo(text: string): string {
  return text.includes('@') ? text.replace(USERINFO, `$1${MARK}@`) : text;
}

/** Replaces every configured secret and every URL userinfo in a text. */
export type Redactor = (text: string) => string;

/**
 * The secrets a config holds: credential passwords and tokens (also those read
 * from the environment) and the userinfo of every configured URL. A redactor
 * replaces them wherever text leaves modgate (logs, audit, error bodies,
 * metrics, config print).
 */
export function createRedactor(config: ModgateConfig): Redactor {
  const secrets = new Set<string>();
  const add = (s: string | undefined): void => {
    if (s && s.length >= MIN_SECRET) secrets.add(s);
  };
  const gitCredentials = config.routes.flatMap((r) =>
    r.git?.credentials ? [r.git.credentials] : [],
  );
  for (const c of [...Object.values(config.credentials), ...gitCredentials]) {
    add(c.password);
    add(c.token);
    if (c.passwordEnv) add(process.env[c.passwordEnv]);
    if (c.tokenEnv) add(process.env[c.tokenEnv]);
  }
  if (config.state.kind === 'postgres') {
    // The shared state's password: from the environment or its file, never the config.
    add(process.env.PGPASSWORD);
    try {
      add(readPasswordFile(config));
    } catch {
      // An unreadable file stops the start with its own error.
    }
  }
  const urls = [
    config.state.postgres.url ?? '',
    config.upstream ?? '',
    config.sumdb ?? '',
    config.audit.shipUrl ?? '',
    ...config.routes.map((r) => r.upstream),
    ...Object.keys(config.credentials),
  ];
  for (const u of urls) {
    for (const m of u.matchAll(/:\/\/([^\s/?#@]+)@/g)) {
      const info = m[1]!;
      add(info);
      const colon = info.indexOf(':');
      if (colon >= 0) {
        add(info.slice(colon + 1));
        add(decodeSafe(info.slice(colon + 1)));
      }
    }
  }
  // Longest first, so that a secret containing another is replaced whole.
  const list = [...secrets].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = scrubUserinfo(text);
    for (const s of list) if (out.includes(s)) out = out.split(s).join(MARK);
    return out;
  };
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * A deep copy of a JSON-like value with every string (and object key) passed
 * through `redact`; the value itself when no string changes (the common case:
 * a first pass only reads).
 */
export function redactDeep<T>(value: T, redact: Redactor): T {
  const clean = (v: unknown): boolean => {
    if (typeof v === 'string') return redact(v) === v;
    if (Array.isArray(v)) return v.every(clean);
    if (v && typeof v === 'object') {
      for (const k in v)
        if (redact(k) !== k || !clean((v as Record<string, unknown>)[k])) return false;
    }
    return true;
  };
  if (clean(value)) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redact(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [redact(k), walk(x)]));
    }
    return v;
  };
  return walk(value) as T;
}

/** A copy of the config with secrets replaced, for printing and logging. */
export function redactConfig(config: ModgateConfig): unknown {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [
          scrubUserinfo(k),
          SECRET_KEYS.has(k) && typeof x === 'string' ? MARK : walk(x),
        ]),
      );
    }
    return v;
  };
  return redactDeep(walk(config), createRedactor(config));
}
