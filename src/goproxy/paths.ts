import { ModgateError } from '../errors.js';
import {
  checkPath,
  unescapePath,
  unescapeVersion,
  escapePath,
  escapeVersion,
} from '../integrity/module.js';
import { build, canonical, isValid } from '../integrity/semver.js';
import { hostileElement } from '../upstream/url.js';

export type ArtifactKind = 'info' | 'mod' | 'zip';

/** A parsed GOPROXY protocol request (go.dev/ref/mod "GOPROXY protocol"). */
export type ProxyRequest =
  | { kind: 'list'; module: string }
  | { kind: 'latest'; module: string }
  | { kind: ArtifactKind; module: string; version: string }
  /** An .info for a query, branch or commit (e.g. master.info): forwarded, cached briefly. */
  | { kind: 'query'; module: string; query: string };

const SUFFIX = /\.(info|mod|zip)$/;

/**
 * Parses the part of a URL after the gateway's base path. Throws
 * REQUEST_INVALID (400) for malformed paths and non-canonical .mod/.zip versions.
 */
export function parseProxyPath(urlPath: string): ProxyRequest {
  const p = urlPath.replace(/^\/+/, '');
  if (p.endsWith('/@latest'))
    return { kind: 'latest', module: decodeModule(p.slice(0, -'/@latest'.length)) };
  const at = p.lastIndexOf('/@v/');
  if (at < 0) throw bad(`not a module proxy path: /${p}`);
  const module = decodeModule(p.slice(0, at));
  const file = p.slice(at + 4);
  if (file === 'list') return { kind: 'list', module };
  const m = SUFFIX.exec(file);
  if (!m || file.includes('/')) throw bad(`unknown module proxy file: ${file}`);
  const version = decodeVersion(file.slice(0, m.index));
  const kind = m[1] as ArtifactKind;
  const canon = canonicalVersion(version);
  if (canon === version) return { kind, module, version };
  if (kind === 'info') return { kind: 'query', module, query: version };
  throw bad(
    `version ${JSON.stringify(version)} is not canonical: .${kind} needs a canonical semantic version`,
  );
}

/** Go's module.CanonicalVersion: semver canonical form, keeping a "+incompatible" suffix. */
export function canonicalVersion(v: string): string {
  if (!isValid(v)) return '';
  return canonical(v) + (build(v) === '+incompatible' ? '+incompatible' : '');
}

/** Longest path element modgate stores (file systems and the module cache cannot hold longer names). */
const MAX_ELEMENT_BYTES = 200;

function decodeModule(escaped: string): string {
  let path: string;
  try {
    // Both checks phrase their message with the path itself, as the go command does.
    path = unescapePath(escaped);
    checkPath(path);
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (escaped.split('/').some((e) => Buffer.byteLength(e) > MAX_ELEMENT_BYTES)) {
    throw bad(
      `module path ${JSON.stringify(path.slice(0, 80))}... has an element longer than ${MAX_ELEMENT_BYTES} bytes`,
    );
  }
  return path;
}

function decodeVersion(escaped: string): string {
  let v: string;
  try {
    v = unescapeVersion(escaped);
  } catch (err) {
    throw bad(`invalid escaped version ${JSON.stringify(escaped)}: ${(err as Error).message}`);
  }
  // Queries are forwarded: nothing in them may change the upstream URL's meaning.
  const why = v === '' ? 'it is empty' : hostileElement(v);
  if (why) throw bad(`invalid version ${JSON.stringify(v.slice(0, 80))}: ${why}`);
  return v;
}

function bad(message: string): ModgateError {
  return new ModgateError('REQUEST_INVALID', message);
}

/** The upstream path for a request, escaped again. */
export function upstreamPath(req: ProxyRequest): string {
  const mod = escapePath(req.module);
  switch (req.kind) {
    case 'list':
      return `/${mod}/@v/list`;
    case 'latest':
      return `/${mod}/@latest`;
    case 'query':
      return `/${mod}/@v/${escapeVersion(req.query)}.info`;
    default:
      return `/${mod}/@v/${escapeVersion(req.version)}.${req.kind}`;
  }
}
