/**
 * Module zip verification with the go command's rules (golang.org/x/mod/zip
 * CheckZip + Unzip, and dirhash.HashZip), streaming from disk.
 *
 * Error codes:
 * | code                       | when                                                              |
 * |----------------------------|-------------------------------------------------------------------|
 * | MODULE_PATH_INVALID        | the module path is malformed                                      |
 * | VERSION_INVALID            | the version is not canonical or does not suit the path            |
 * | ZIP_TOO_LARGE              | the zip file is larger than 500 MiB                               |
 * | ZIP_UNCOMPRESSED_TOO_LARGE | the declared contents total more than 500 MiB                     |
 * | ZIP_FILE_TOO_LARGE         | go.mod or LICENSE at the root is larger than 16 MiB               |
 * | ZIP_PATH_PREFIX            | an entry is not under "<module>@<version>/"                       |
 * | ZIP_PATH_INVALID           | an entry's path is not clean or not a valid file path             |
 * | ZIP_DUPLICATE              | two entries for the same file                                     |
 * | ZIP_CASE_COLLISION         | two entries equal under Unicode case folding                      |
 * | ZIP_FILE_DIR_CONFLICT      | a path is both a file and a directory                             |
 * | ZIP_GOMOD_NOT_ROOT         | a file named go.mod (any case) outside the module root            |
 * | ZIP_GOMOD_CASE             | the root go.mod is not spelled in lower case                      |
 * | ZIP_TOO_MANY_FILES         | more entries than the caller's optional maxFiles                  |
 * | ZIP_SIZE_MISMATCH          | an entry inflates to more or fewer bytes than declared            |
 * | ZIP_CRC_MISMATCH           | an entry's content does not match its CRC-32                      |
 * | ZIP_CORRUPT                | not a readable zip (truncated, bad headers, bad deflate data)     |
 * | HASH_NAME_INVALID          | an entry name holds a newline (hashZipFile only)                  |
 */
import { stat } from 'node:fs/promises';
import type { StreamedEntry } from './zipstream.js';
import { ModgateError, isModgateError, type ZipCode } from '../errors.js';
import { digestAll, digestEntry, fromStream, openZip, rawName, readEntries } from './zip-read.js';
import { hash1FromDigests, type FileDigest } from './dirhash.js';
import { checkFilePath, checkModule, decodePath, goQuote, type PathInput } from './module.js';
import { canonical, build } from './semver.js';

export const MAX_ZIP_FILE = 500 << 20;
export const MAX_GO_MOD = 16 << 20;
export const MAX_LICENSE = 16 << 20;

export interface ModuleVersion {
  path: string;
  version: string;
}

export interface ZipReport {
  h1: string;
  fileCount: number;
  uncompressedSize: number;
  zipSize: number;
  goMod?: Buffer;
  warnings: string[];
}

export interface ZipCheckEntry {
  name: PathInput;
  /** Declared uncompressed size. */
  size: number;
}

export interface FileProblem {
  path: string;
  code: ZipCode;
  err: string;
}

export interface CheckedZip {
  valid: string[];
  invalid: FileProblem[];
  sizeError?: { code: ZipCode; message: string };
}

/** Rejects a version that is not canonical or does not suit the module path. */
export function checkModuleVersion(mod: ModuleVersion): void {
  const cv =
    canonical(mod.version) + (build(mod.version) === '+incompatible' ? '+incompatible' : '');
  if (cv !== mod.version) {
    const message = `version ${goQuote(mod.version)} is not canonical (should be ${goQuote(cv)})`;
    throw new ModgateError('VERSION_INVALID', message, { version: mod.version });
  }
  checkModule(mod.path, mod.version);
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
  let out = '';
  for (const c of s) out += String.fromCodePoint(foldRune(c.codePointAt(0)!));
  return out;
}

type Collisions = Map<string, { path: string; isDir: boolean }>;

function collision(cc: Collisions, p: string, isDir: boolean): FileProblem | undefined {
  const fold = strToFold(p);
  const other = cc.get(fold);
  if (other) {
    if (p !== other.path) {
      return {
        path: p,
        code: 'ZIP_CASE_COLLISION',
        err: `case-insensitive file name collision: ${goQuote(other.path)} and ${goQuote(p)}`,
      };
    }
    if (isDir !== other.isDir)
      return {
        path: p,
        code: 'ZIP_FILE_DIR_CONFLICT',
        err: `entry ${goQuote(p)} is both a file and a directory`,
      };
    if (!isDir)
      return { path: p, code: 'ZIP_DUPLICATE', err: `multiple entries for file ${goQuote(p)}` };
  } else {
    cc.set(fold, { path: p, isDir });
  }
  const slash = p.lastIndexOf('/');
  return slash > 0 ? collision(cc, p.slice(0, slash), true) : undefined;
}

function checkOne(
  name: string,
  size: number,
  cc: Collisions,
): Omit<FileProblem, 'path'> | 'skip' | undefined {
  if (name === '') return 'skip';
  const isDir = name.endsWith('/');
  if (isDir) name = name.slice(0, -1);
  if (cleanPath(name) !== name) return { code: 'ZIP_PATH_INVALID', err: 'file path is not clean' };
  const bad = checkFilePathMessage(name);
  if (bad) return { code: 'ZIP_PATH_INVALID', err: bad };
  const col = collision(cc, name, isDir);
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

function checkFilePathMessage(name: string): string | undefined {
  try {
    checkFilePath(name);
    return undefined;
  } catch (err) {
    if (isModgateError(err)) return err.message;
    throw err;
  }
}

/**
 * The name and size rules of x/mod's checkZip over the central directory,
 * without reading any content. Names are raw bytes or text.
 */
export function checkZipEntries(mod: ModuleVersion, entries: Iterable<ZipCheckEntry>): CheckedZip {
  const prefix = Buffer.from(`${mod.path}@${mod.version}/`, 'utf8');
  const out: CheckedZip = { valid: [], invalid: [] };
  const cc: Collisions = new Map();
  let total = 0;
  for (const e of entries) {
    const raw = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : Buffer.from(e.name);
    const full = decodePath(raw) ?? goQuote(raw).slice(1, -1);
    if (raw.length < prefix.length || !raw.subarray(0, prefix.length).equals(prefix)) {
      out.invalid.push({
        path: full,
        code: 'ZIP_PATH_PREFIX',
        err: `path does not have prefix ${goQuote(prefix)}`,
      });
      continue;
    }
    const rest = raw.subarray(prefix.length);
    const name = decodePath(rest);
    if (name === undefined) {
      out.invalid.push({
        path: full,
        code: 'ZIP_PATH_INVALID',
        err: `malformed file path ${goQuote(rest)}: invalid UTF-8`,
      });
      continue;
    }
    const res = checkOne(name, e.size, cc);
    if (res === 'skip') continue;
    if (res) {
      out.invalid.push({ code: res.code, err: res.err, path: full });
      continue;
    }
    if (e.size >= 0 && MAX_ZIP_FILE - total >= e.size) total += e.size;
    else if (!out.sizeError) {
      const message = `total uncompressed size of module contents too large (max size is ${MAX_ZIP_FILE} bytes)`;
      out.sizeError = { code: 'ZIP_UNCOMPRESSED_TOO_LARGE', message };
    }
    out.valid.push(full);
  }
  return out;
}

/** Throws the error x/mod's CheckedFiles.Err would return, if any. */
export function checkedZipError(cf: CheckedZip): ModgateError | undefined {
  if (cf.sizeError) return new ModgateError(cf.sizeError.code, cf.sizeError.message);
  const first = cf.invalid[0];
  if (!first) return undefined;
  const message = cf.invalid.map((f) => `${f.path}: ${f.err}`).join('\n');
  return new ModgateError(first.code, message, { invalid: cf.invalid });
}

export interface VerifyOptions {
  /** Reject zips with more entries than this (x/mod has no such limit). */
  maxFiles?: number;
  /**
   * Digests taken while the zip streamed in (ZipStreamDigester). Used only when
   * they match the central directory entry for entry (offset, name, method,
   * sizes, CRC-32); otherwise every entry is inflated again from the file.
   */
  streamed?: StreamedEntry[] | null;
}

async function statSize(file: string): Promise<number> {
  const size = (await stat(file)).size;
  if (size > MAX_ZIP_FILE) {
    throw new ModgateError(
      'ZIP_TOO_LARGE',
      `module zip file is too large (${size} bytes; limit is ${MAX_ZIP_FILE} bytes)`,
      { size },
    );
  }
  return size;
}

/**
 * Verifies a module zip on disk as the go command would before extracting it,
 * and computes its go.sum hash while inflating each entry once.
 */
export async function verifyModuleZip(
  file: string,
  mod: ModuleVersion,
  opts: VerifyOptions = {},
): Promise<ZipReport> {
  checkModuleVersion(mod);
  const zipSize = await statSize(file);
  const zf = await openZip(file);
  try {
    const entries = await readEntries(zf, opts.maxFiles ?? Infinity);
    const err = checkedZipError(
      checkZipEntries(
        mod,
        entries.map((e) => ({ name: rawName(e), size: e.uncompressedSize })),
      ),
    );
    if (err) throw err;
    const goModName = `${mod.path}@${mod.version}/go.mod`;
    const report: ZipReport = { h1: '', fileCount: 0, uncompressedSize: 0, zipSize, warnings: [] };
    const digests: FileDigest[] = [];
    const results = fromStream(entries, opts.streamed) ?? (await digestAll(zf, entries, goModName));
    for (const [i, e] of entries.entries()) {
      const name = rawName(e).toString('utf8');
      const d = results[i]!;
      digests.push({ name, sha256: d.sha256 });
      if (d.data) report.goMod = d.data;
      if (name.endsWith('/')) continue;
      report.fileCount++;
      report.uncompressedSize += e.uncompressedSize;
      if (((e.externalFileAttributes >>> 16) & 0o170000) === 0o120000)
        report.warnings.push(`${name}: symbolic link stored as a regular file`);
    }
    report.h1 = hash1FromDigests(digests);
    return report;
  } finally {
    zf.close();
  }
}

/** dirhash.HashZip: the h1 of every entry of a zip, without module rules (a repeated name hashes its last entry). */
export async function hashZipFile(file: string): Promise<string> {
  const zf = await openZip(file);
  try {
    const entries = await readEntries(zf, Infinity);
    const last = new Map(entries.map((e) => [rawName(e).toString('utf8'), e]));
    const digest = new Map<string, Buffer>();
    for (const [name, e] of last) digest.set(name, (await digestEntry(zf, e, name, false)).sha256);
    return hash1FromDigests(
      entries.map((e) => ({
        name: rawName(e).toString('utf8'),
        sha256: digest.get(rawName(e).toString('utf8'))!,
      })),
    );
  } finally {
    zf.close();
  }
}
