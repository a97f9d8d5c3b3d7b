/**
 * Module paths and versions, with the exact rules of the go command
 * (golang.org/x/mod/module).
 *
 * Error codes:
 * | code                | when                                                       |
 * |---------------------|------------------------------------------------------------|
 * | MODULE_PATH_INVALID | checkPath / escapePath / unescapePath reject a module path |
 * | IMPORT_PATH_INVALID | checkImportPath rejects an import path                     |
 * | FILE_PATH_INVALID   | checkFilePath rejects a file path                          |
 * | VERSION_INVALID     | a version is malformed, not escapable, or wrong for a path |
 */
import { ModgateError, isModgateError, type ModuleCode } from '../errors.js';
import { build, isValid, major } from './semver.js';

/** A path as text, or as raw bytes (which may be invalid UTF-8). */
export type PathInput = string | Uint8Array;

type Kind = 'module' | 'import' | 'file';
const CODES: Record<Kind, ModuleCode> = {
  module: 'MODULE_PATH_INVALID',
  import: 'IMPORT_PATH_INVALID',
  file: 'FILE_PATH_INVALID',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Decodes a path; undefined when it is not valid UTF-8. */
export function decodePath(p: PathInput): string | undefined {
  if (typeof p === 'string') return LONE_SURROGATE.test(p) ? undefined : p;
  try {
    return utf8.decode(p);
  } catch {
    return undefined;
  }
}

function isPrint(cp: number): boolean {
  return cp === 0x20 || /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(String.fromCodePoint(cp));
}

function escapeRune(cp: number, quote: string): string {
  const c = String.fromCodePoint(cp);
  if (c === quote || c === '\\') return `\\${c}`;
  if (isPrint(cp)) return c;
  const named: Record<number, string> = {
    7: '\\a',
    8: '\\b',
    12: '\\f',
    10: '\\n',
    13: '\\r',
    9: '\\t',
    11: '\\v',
  };
  if (named[cp]) return named[cp];
  if (cp < 0x20 || cp === 0x7f) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\U${cp.toString(16).padStart(8, '0')}`;
}

/** Go's %q for a string (strconv.Quote), including \x escapes for invalid UTF-8 bytes. */
export function goQuote(s: PathInput): string {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const len =
      b < 0x80
        ? 1
        : b >= 0xc2 && b < 0xe0
          ? 2
          : b >= 0xe0 && b < 0xf0
            ? 3
            : b >= 0xf0 && b < 0xf5
              ? 4
              : 0;
    const text = len > 0 ? decodePath(bytes.subarray(i, i + len)) : undefined;
    if (text === undefined || len === 0 || i + len > bytes.length) {
      out += `\\x${b.toString(16).padStart(2, '0')}`;
      i += 1;
      continue;
    }
    out += escapeRune(text.codePointAt(0)!, '"');
    i += len;
  }
  return `${out}"`;
}

/** Go's %q for a rune. */
export function goQuoteRune(cp: number): string {
  return `'${escapeRune(cp, "'")}'`;
}

function modPathOK(c: string): boolean {
  return /^[-._~0-9A-Za-z]$/.test(c);
}
function fileNameOK(c: string): boolean {
  if (c.codePointAt(0)! < 0x80) return /^[0-9A-Za-z!#$%&()+,\-.=@[\]^_{}~ ]$/.test(c);
  return /^\p{L}$/u.test(c);
}
const BAD_WINDOWS = new Set([
  'CON',
  'PRN',
  'AUX',
  'NUL',
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((n) => [`COM${n}`, `LPT${n}`]),
]);

function checkElem(elem: string, kind: Kind): string | undefined {
  if (elem === '') return 'empty path element';
  if (/^\.+$/.test(elem)) return `invalid path element ${goQuote(elem)}`;
  if (elem.startsWith('.') && kind === 'module') return 'leading dot in path element';
  if (elem.endsWith('.')) return 'trailing dot in path element';
  for (const c of elem) {
    const ok =
      kind === 'module'
        ? modPathOK(c)
        : kind === 'import'
          ? modPathOK(c) || c === '+'
          : fileNameOK(c);
    if (!ok) return `invalid char ${goQuoteRune(c.codePointAt(0)!)}`;
  }
  const dot = elem.indexOf('.');
  const short = dot >= 0 ? elem.slice(0, dot) : elem;
  if (/^[\x00-\x7f]*$/.test(short) && BAD_WINDOWS.has(short.toUpperCase())) {
    return `${goQuote(short)} disallowed as path element component on Windows`;
  }
  if (kind === 'file') return undefined;
  const tilde = short.lastIndexOf('~');
  if (tilde >= 0 && tilde < short.length - 1 && /^[0-9]+$/.test(short.slice(tilde + 1))) {
    return 'trailing tilde and digits in path element';
  }
  return undefined;
}

function checkPathKind(p: string | undefined, kind: Kind): string | undefined {
  if (p === undefined) return 'invalid UTF-8';
  if (p === '') return 'empty string';
  if (p.startsWith('-') && kind !== 'file') return 'leading dash';
  if (p.includes('//')) return 'double slash';
  if (p.endsWith('/')) return 'trailing slash';
  for (const elem of p.split('/')) {
    const err = checkElem(elem, kind);
    if (err) return err;
  }
  return undefined;
}

function modulePathError(p: string | undefined): string | undefined {
  const err = checkPathKind(p, 'module');
  if (err || p === undefined) return err;
  const i = p.indexOf('/') < 0 ? p.length : p.indexOf('/');
  const first = p.slice(0, i);
  if (i === 0) return 'leading slash';
  if (!first.includes('.')) return 'missing dot in first path element';
  if (p.startsWith('-')) return 'leading dash in first path element';
  for (const c of first) {
    if (!/^[-.0-9a-z]$/.test(c))
      return `invalid char ${goQuoteRune(c.codePointAt(0)!)} in first path element`;
  }
  if (!splitPathVersion(p)[2]) return 'invalid version';
  return undefined;
}

function fail(kind: Kind, p: PathInput, reason: string): never {
  const message = `malformed ${kind} path ${goQuote(p)}: ${reason}`;
  throw new ModgateError(CODES[kind], message, { path: decodePath(p) ?? goQuote(p), reason });
}

/** Checks a module path (module.CheckPath). */
export function checkPath(p: PathInput): void {
  const err = modulePathError(decodePath(p));
  if (err) fail('module', p, err);
}

/** Checks an import path (module.CheckImportPath). */
export function checkImportPath(p: PathInput): void {
  const err = checkPathKind(decodePath(p), 'import');
  if (err) fail('import', p, err);
}

/** Checks a file path inside a module (module.CheckFilePath). */
export function checkFilePath(p: PathInput): void {
  const err = checkPathKind(decodePath(p), 'file');
  if (err) fail('file', p, err);
}

/** Splits "prefix/vN" or "gopkg.in/x.vN" into [prefix, pathMajor, ok] (module.SplitPathVersion). */
export function splitPathVersion(p: string): [string, string, boolean] {
  if (p.startsWith('gopkg.in/')) return splitGopkgIn(p);
  let i = p.length;
  let dot = false;
  while (i > 0 && /[0-9.]/.test(p[i - 1]!)) {
    if (p[i - 1] === '.') dot = true;
    i--;
  }
  if (i <= 1 || i === p.length || p[i - 1] !== 'v' || p[i - 2] !== '/') return [p, '', true];
  const prefix = p.slice(0, i - 2);
  const pathMajor = p.slice(i - 2);
  if (dot || pathMajor.length <= 2 || pathMajor[2] === '0' || pathMajor === '/v1')
    return [p, '', false];
  return [prefix, pathMajor, true];
}

function splitGopkgIn(p: string): [string, string, boolean] {
  let i = p.length;
  if (p.endsWith('-unstable')) i -= '-unstable'.length;
  while (i > 0 && /[0-9]/.test(p[i - 1]!)) i--;
  if (i <= 1 || p[i - 1] !== 'v' || p[i - 2] !== '.') return [p, '', false];
  const prefix = p.slice(0, i - 2);
  const pathMajor = p.slice(i - 2);
  if (pathMajor.length <= 2 || (pathMajor[2] === '0' && pathMajor !== '.v0')) return [p, '', false];
  return [prefix, pathMajor, true];
}

/** Checks that version v suits the path's major suffix (module.CheckPathMajor). */
export function checkPathMajor(v: string, pathMajor: string): void {
  let pm = pathMajor;
  if (pm.startsWith('.v') && pm.endsWith('-unstable')) pm = pm.slice(0, -'-unstable'.length);
  if (v.startsWith('v0.0.0-') && pm === '.v1') return;
  const m = major(v);
  if (pm === '') {
    if (m === 'v0' || m === 'v1' || build(v) === '+incompatible') return;
    pm = 'v0 or v1';
  } else if (pm.startsWith('/') || pm.startsWith('.')) {
    if (m === pm.slice(1)) return;
    pm = pm.slice(1);
  }
  const reason = `should be ${pm}, not ${m}`;
  throw new ModgateError('VERSION_INVALID', `version ${goQuote(v)} invalid: ${reason}`, {
    version: v,
    reason,
  });
}

export function matchPathMajor(v: string, pathMajor: string): boolean {
  try {
    checkPathMajor(v, pathMajor);
    return true;
  } catch {
    return false;
  }
}

/** Checks a module path and version together (module.Check). */
export function checkModule(p: string, v: string): void {
  checkPath(p);
  if (!isValid(v)) {
    throw new ModgateError(
      'VERSION_INVALID',
      `${p}@${v}: invalid version: not a semantic version`,
      { path: p, version: v },
    );
  }
  try {
    checkPathMajor(v, splitPathVersion(p)[1]);
  } catch (err) {
    if (!isModgateError(err, 'VERSION_INVALID')) throw err;
    const reason = err.details.reason;
    throw new ModgateError('VERSION_INVALID', `${p}@${v}: invalid version: ${reason}`, {
      path: p,
      version: v,
    });
  }
}

function escapeString(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
}

function unescapeString(s: string): string | undefined {
  if (!/^(?:[\x00-\x20\x22-\x40\x5b-\x7f]|![a-z])*$/.test(s)) return undefined;
  return s.replace(/!([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The `!`-escaped form of a module path used in proxy URLs (module.EscapePath). */
export function escapePath(p: string): string {
  checkPath(p);
  return escapeString(p);
}

export function escapeVersion(v: string): string {
  if (checkElem(v, 'file') || v.includes('!')) {
    throw new ModgateError(
      'VERSION_INVALID',
      `version ${goQuote(v)} invalid: disallowed version string`,
      { version: v },
    );
  }
  return escapeString(v);
}

export function unescapePath(escaped: string): string {
  const p = unescapeString(escaped);
  if (p === undefined) {
    throw new ModgateError(
      'MODULE_PATH_INVALID',
      `invalid escaped module path ${goQuote(escaped)}`,
      { escaped },
    );
  }
  const err = modulePathError(p);
  if (err) {
    const message = `invalid escaped module path ${goQuote(escaped)}: malformed module path ${goQuote(p)}: ${err}`;
    throw new ModgateError('MODULE_PATH_INVALID', message, { escaped });
  }
  return p;
}

export function unescapeVersion(escaped: string): string {
  const v = unescapeString(escaped);
  if (v === undefined) {
    throw new ModgateError('VERSION_INVALID', `invalid escaped version ${goQuote(escaped)}`, {
      escaped,
    });
  }
  const err = checkElem(v, 'file');
  if (err)
    throw new ModgateError('VERSION_INVALID', `invalid escaped version ${goQuote(v)}: ${err}`, {
      escaped,
    });
  return v;
}

/**
 * GOPRIVATE / GONOSUMDB matching (module.MatchPrefixPatterns): each
 * comma-separated glob matches a prefix of target with as many path elements.
 */
export function matchPrefixPatterns(globs: string, target: string): boolean {
  for (let glob of globs.split(',')) {
    if (glob.endsWith('/')) glob = glob.slice(0, -1);
    if (glob === '') continue;
    let n = glob.split('/').length - 1;
    let prefix = target;
    for (let i = 0; i < target.length; i++) {
      if (target[i] !== '/') continue;
      if (n === 0) {
        prefix = target.slice(0, i);
        break;
      }
      n--;
    }
    if (n > 0) continue;
    if (globMatch(glob, prefix)) return true;
  }
  return false;
}

/** Go's path.Match over code points; a malformed pattern matches nothing. */
export function globMatch(pattern: string, name: string): boolean {
  return matchFrom([...pattern], [...name]);
}

function scanChunk(pat: string[]): { star: boolean; chunk: string[]; rest: string[] } {
  let star = false;
  while (pat[0] === '*') {
    pat = pat.slice(1);
    star = true;
  }
  let i = 0;
  for (let inRange = false; i < pat.length; i++) {
    const c = pat[i];
    if (c === '\\' && i + 1 < pat.length) i++;
    else if (c === '[') inRange = true;
    else if (c === ']') inRange = false;
    else if (c === '*' && !inRange) break;
  }
  return { star, chunk: pat.slice(0, i), rest: pat.slice(i) };
}

function matchFrom(pattern: string[], name: string[]): boolean {
  let pat = pattern;
  outer: while (pat.length > 0) {
    const { star, chunk, rest } = scanChunk(pat);
    pat = rest;
    if (star && chunk.length === 0) return !name.includes('/');
    const t = matchChunk(chunk, name);
    if (t && (t.length === 0 || pat.length > 0)) {
      name = t;
      continue;
    }
    if (t === null) return false;
    if (star) {
      for (let i = 0; i < name.length && name[i] !== '/'; i++) {
        const u = matchChunk(chunk, name.slice(i + 1));
        if (u) {
          if (pat.length === 0 && u.length > 0) continue;
          name = u;
          continue outer;
        }
        if (u === null) return false;
      }
    }
    return false;
  }
  return name.length === 0;
}

/** Remaining name after chunk, undefined on mismatch, null on a bad pattern. */
function matchChunk(chunk: string[], s: string[]): string[] | undefined | null {
  let ci = 0;
  let si = 0;
  let failed = false;
  while (ci < chunk.length) {
    if (si >= s.length) failed = true;
    const c = chunk[ci]!;
    if (c === '[') {
      const r = failed ? undefined : s[si++];
      ci++;
      const negated = chunk[ci] === '^';
      if (negated) ci++;
      let match = false;
      for (let n = 0; ; n++) {
        if (chunk[ci] === ']' && n > 0) {
          ci++;
          break;
        }
        const lo = getEsc(chunk, ci);
        if (!lo) return null;
        let hi = lo;
        if (chunk[lo.next] === '-') {
          const h = getEsc(chunk, lo.next + 1);
          if (!h) return null;
          hi = h;
        }
        ci = hi.next;
        if (r !== undefined && lo.cp <= r.codePointAt(0)! && r.codePointAt(0)! <= hi.cp)
          match = true;
      }
      if (match === negated) failed = true;
    } else if (c === '?') {
      if (!failed && s[si++] === '/') failed = true;
      ci++;
    } else {
      if (c === '\\') {
        ci++;
        if (ci >= chunk.length) return null;
      }
      if (!failed && chunk[ci] !== s[si++]) failed = true;
      ci++;
    }
  }
  return failed ? undefined : s.slice(si);
}

function getEsc(chunk: string[], i: number): { cp: number; next: number } | undefined {
  let c = chunk[i];
  if (c === undefined || c === '-' || c === ']') return undefined;
  if (c === '\\') {
    c = chunk[++i];
    if (c === undefined) return undefined;
  }
  if (i + 1 >= chunk.length) return undefined;
  return { cp: c.codePointAt(0)!, next: i + 1 };
}
