/**
 * The name and size rules of x/mod's zip.checkZip (collisionChecker,
 * strToFold, the go.mod and LICENSE limits) over a central directory,
 * without reading content, with bounded memory per entry: the collision set
 * keys each path once and refers back to the entry that holds its spelling.
 */
import { ModgateError, isModgateError } from '../errors.js';
import { checkFilePath, decodePath, goQuote, type PathInput } from './module.js';

export const MAX_ZIP_FILE = 500 << 20;
export const MAX_GO_MOD = 16 << 20;
export const MAX_LICENSE = 16 << 20;
/**
 * Longest file path inside the module (after "<module>@<version>/"). Go sets
 * none, but the go command cannot extract a longer one on Linux (PATH_MAX),
 * and it bounds the collision check's work per entry.
 */
export const MAX_PATH_BYTES = 4096;
/** Problems listed in a refusal; the rest are counted. */
const MAX_LISTED = 1000;

export interface ModuleVersion {
  path: string;
  version: string;
}

export interface ZipCheckEntry {
  name: PathInput;
  /** Declared uncompressed size. */
  size: number;
}

export interface FileProblem {
  path: string;
  code: string;
  err: string;
}

export interface CheckedZip {
  valid: string[];
  invalid: FileProblem[];
  /** Problems beyond the listed ones. */
  more?: number;
  sizeError?: { code: string; message: string };
}

/** Go's path.Clean. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const e of p.split('/')) {
    if (e === '' || e === '.') continue;
    if (e === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (e !== '..' || !rooted) out.push(e);
  }
  const s = out.join('/');
  return rooted ? `/${s}` : s || '.';
}

const foldCache = new Map<number, number>();

function foldRune(cp: number): number {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? cp + 32 : cp;
  const hit = foldCache.get(cp);
  if (hit !== undefined) return hit;
  const c = String.fromCodePoint(cp);
  const same = new RegExp(`^\\u{${cp.toString(16)}}$`, 'iu');
  const cands = [
    c,
    c.toUpperCase(),
    c.toLowerCase(),
    c.toLowerCase().toUpperCase(),
    c.toUpperCase().toLowerCase(),
  ];
  let min = cp;
  for (const d of cands) {
    const dp = d.codePointAt(0)!;
    if ([...d].length === 1 && dp < min && same.test(d)) min = dp;
  }
  const folded = min >= 0x41 && min <= 0x5a ? min + 32 : min;
  foldCache.set(cp, folded);
  return folded;
}

/** Go's strToFold: equal results iff the inputs are equal under simple Unicode case folding. */
export function strToFold(s: string): string {
  // Most names fold to themselves; returning the same string spares a copy per entry.
  if (!/[^\x00-\x40\x5b-\x7f]/.test(s)) return s;
  let out = '';
  for (const c of s) out += String.fromCodePoint(foldRune(c.codePointAt(0)!));
  return out;
}

/** The entries to check, by index: raw names and declared sizes. */
export interface EntryList {
  count: number;
  name(i: number): Buffer;
  size(i: number): number;
}

export interface CheckOptions {
  /** Collect the valid names (x/mod's CheckedFiles.Valid); off when verifying. */
  collectValid?: boolean;
  /** Distinct paths (files and directories) the collision set may hold. */
  maxPaths?: number;
}

/**
 * x/mod's collisionChecker. Each folded path maps to the entry index and the
 * length of the prefix of that entry's path that spells it (and whether it is
 * a directory), so that a path costs one key, not a copy of its spelling.
 */
class Collisions {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly pathOf: (i: number) => string,
    private readonly maxPaths: number,
  ) {}

  check(i: number, p: string, isDir: boolean): Omit<FileProblem, 'path'> | undefined {
    const fold = strToFold(p);
    // Folding is rune by rune and leaves "/" alone, so a parent's fold is a prefix of this one.
    let len = p.length;
    let flen = fold.length;
    for (;;) {
      const key = fold.slice(0, flen);
      const other = this.seen.get(key);
      const sub = p.slice(0, len);
      if (other !== undefined) {
        const otherPath = this.pathOf(Math.floor(other / 16384)).slice(0, (other % 16384) >> 1);
        if (sub !== otherPath)
          return {
            code: 'ZIP_CASE_COLLISION',
            err: `case-insensitive file name collision: ${goQuote(otherPath)} and ${goQuote(sub)}`,
          };
        const otherDir = other % 2 === 1;
        if (isDir !== otherDir)
          return {
            code: 'ZIP_FILE_DIR_CONFLICT',
            err: `entry ${goQuote(sub)} is both a file and a directory`,
          };
        if (!isDir)
          return { code: 'ZIP_DUPLICATE', err: `multiple entries for file ${goQuote(sub)}` };
        // A known directory's parents were all checked when it was first seen.
        return undefined;
      }
      if (this.seen.size >= this.maxPaths)
        throw new ModgateError(
          'ZIP_TOO_MANY_FILES',
          `module zip holds more than ${this.maxPaths} distinct files and directories`,
          { limit: this.maxPaths },
        );
      this.seen.set(key, i * 16384 + len * 2 + (isDir ? 1 : 0));
      const slash = sub.lastIndexOf('/');
      if (slash <= 0) return undefined;
      len = slash;
      flen = fold.lastIndexOf('/', flen - 1);
      isDir = true;
    }
  }
}

function checkFilePathMessage(name: string): string | undefined {
  try {
    checkFilePath(name);
    return undefined;
  } catch (err) {
    if (isModgateError(err)) return err.message;
    throw err;
  }
}

function checkOne(
  i: number,
  name: string,
  size: number,
  cc: Collisions,
): Omit<FileProblem, 'path'> | 'skip' | undefined {
  if (name === '') return 'skip';
  const isDir = name.endsWith('/');
  if (isDir) name = name.slice(0, -1);
  if (Buffer.byteLength(name) > MAX_PATH_BYTES)
    return { code: 'ZIP_PATH_INVALID', err: `file path longer than ${MAX_PATH_BYTES} bytes` };
  if (cleanPath(name) !== name) return { code: 'ZIP_PATH_INVALID', err: 'file path is not clean' };
  const bad = checkFilePathMessage(name);
  if (bad) return { code: 'ZIP_PATH_INVALID', err: bad };
  const col = cc.check(i, name, isDir);
  if (col) return col;
  if (isDir) return 'skip';
  const base = name.slice(name.lastIndexOf('/') + 1);
  if (strToFold(base) === 'go.mod') {
    if (base !== name)
      return { code: 'ZIP_GOMOD_NOT_ROOT', err: 'go.mod file not in module root directory' };
    if (name !== 'go.mod')
      return { code: 'ZIP_GOMOD_CASE', err: 'go.mod files must have lowercase names' };
  }
  if (name === 'go.mod' && size > MAX_GO_MOD)
    return {
      code: 'ZIP_FILE_TOO_LARGE',
      err: `go.mod file too large (max size is ${MAX_GO_MOD} bytes)`,
    };
  if (name === 'LICENSE' && size > MAX_LICENSE)
    return {
      code: 'ZIP_FILE_TOO_LARGE',
      err: `LICENSE file too large (max size is ${MAX_LICENSE} bytes)`,
    };
  return undefined;
}

/** checkZip's loop over the entries of a zip. */
export function checkEntryList(
  mod: ModuleVersion,
  list: EntryList,
  opts: CheckOptions = {},
): CheckedZip {
  const prefix = Buffer.from(`${mod.path}@${mod.version}/`, 'utf8');
  const out: CheckedZip = { valid: [], invalid: [] };
  const restOf = (i: number): string => decodePath(list.name(i).subarray(prefix.length)) ?? '';
  const cc = new Collisions(restOf, opts.maxPaths ?? Infinity);
  const problem = (p: FileProblem): void => {
    if (out.invalid.length < MAX_LISTED) out.invalid.push(p);
    else out.more = (out.more ?? 0) + 1;
  };
  let total = 0;
  for (let i = 0; i < list.count; i++) {
    const raw = list.name(i);
    const full = (): string => decodePath(raw) ?? goQuote(raw).slice(1, -1);
    if (raw.length < prefix.length || !raw.subarray(0, prefix.length).equals(prefix)) {
      problem({
        path: full(),
        code: 'ZIP_PATH_PREFIX',
        err: `path does not have prefix ${goQuote(prefix)}`,
      });
      continue;
    }
    const rest = raw.subarray(prefix.length);
    const name = decodePath(rest);
    if (name === undefined) {
      const err = `malformed file path ${goQuote(rest)}: invalid UTF-8`;
      problem({ path: full(), code: 'ZIP_PATH_INVALID', err });
      continue;
    }
    const size = list.size(i);
    const res = checkOne(i, name, size, cc);
    if (res === 'skip') continue;
    if (res) {
      problem({ code: res.code, err: res.err, path: full() });
      continue;
    }
    if (size >= 0 && MAX_ZIP_FILE - total >= size) total += size;
    else if (!out.sizeError) {
      const message = `total uncompressed size of module contents too large (max size is ${MAX_ZIP_FILE} bytes)`;
      out.sizeError = { code: 'ZIP_UNCOMPRESSED_TOO_LARGE', message };
    }
    if (opts.collectValid !== false) out.valid.push(full());
  }
  return out;
}

/** The name and size rules of x/mod's checkZip over a list of names and sizes. */
export function checkZipEntries(mod: ModuleVersion, entries: Iterable<ZipCheckEntry>): CheckedZip {
  const all = [...entries].map((e) => ({
    name: typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : Buffer.from(e.name),
    size: e.size,
  }));
  return checkEntryList(mod, {
    count: all.length,
    name: (i) => all[i]!.name,
    size: (i) => all[i]!.size,
  });
}

/** The error x/mod's CheckedFiles.Err would return, if any. */
export function checkedZipError(cf: CheckedZip): ModgateError | undefined {
  if (cf.sizeError) return new ModgateError(cf.sizeError.code, cf.sizeError.message);
  const first = cf.invalid[0];
  if (!first) return undefined;
  let message = cf.invalid.map((f) => `${f.path}: ${f.err}`).join('\n');
  if (cf.more) message += `\n(and ${cf.more} more)`;
  return new ModgateError(first.code, message, { invalid: cf.invalid });
}
