/**
 * Module zip verification with the go command's rules (golang.org/x/mod/zip
 * CheckZip + Unzip, and dirhash.HashZip), reading the file through one
 * handle, with memory bounded whatever the input: the entry count, the
 * central directory and the distinct paths are capped (Go caps none of them),
 * and every entry inflates at most to its declared size.
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
 * | ZIP_TOO_MANY_FILES         | more entries, directory bytes or distinct paths than the limits   |
 * | ZIP_INVALID                | the bytes break a layout rule (zip-layout.ts), inflate to more or |
 * |                            | fewer bytes than declared, fail their CRC-32, hold bad deflate    |
 * |                            | data, or a kept file no longer hashes to its digest in h1         |
 * | FILE_UNREADABLE            | the zip file cannot be opened                                     |
 * | HASH_NAME_INVALID          | an entry name holds a newline (hashZipFile only)                  |
 */
import { createHash } from 'node:crypto';
import type { StreamedEntry } from './zipstream.js';
import { ModgateError } from '../errors.js';
import { digestAll, digestEntry, fromStream, openZipFile, type ZipFile } from './zip-read.js';
import { checkLocalHeaders, entryName, readDirectory, type ZipDirectory } from './zip-layout.js';
import { checkEntryList, checkedZipError, MAX_ZIP_FILE, type ModuleVersion } from './zip-check.js';
import { checkModule, goQuote } from './module.js';
import { canonical, build } from './semver.js';

export {
  checkZipEntries,
  checkedZipError,
  cleanPath,
  strToFold,
  MAX_GO_MOD,
  MAX_LICENSE,
  MAX_PATH_BYTES,
  MAX_ZIP_FILE,
  type CheckedZip,
  type FileProblem,
  type ModuleVersion,
  type ZipCheckEntry,
} from './zip-check.js';

/**
 * Entries a module zip may hold. Go has no limit; the largest real modules
 * hold a few tens of thousands of files. With the directory cap below, one
 * verification's live memory stays under 32 MiB (measured: 27 MiB for
 * 100,000 entries, test/integrity/zipbomb.test.ts).
 */
export const MAX_ENTRIES = 100_000;
/** Bytes of central directory, which is read whole (a 26,000-file module needs about 3 MiB). */
export const MAX_DIRECTORY_BYTES = 10 << 20;
/** Symbolic-link warnings listed in a report. */
const MAX_WARNINGS = 20;

export interface ZipReport {
  h1: string;
  fileCount: number;
  uncompressedSize: number;
  zipSize: number;
  /** The root go.mod, when asked for with keepGoMod. */
  goMod?: Buffer;
  /** The files asked for with `keep`, in directory order; data is null when over keep.maxBytes. */
  kept?: Array<{ name: string; data: Buffer | null }>;
  warnings: string[];
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

export interface VerifyOptions {
  /** Entries allowed in the zip (default MAX_ENTRIES); distinct paths may be twice that. */
  maxFiles?: number;
  /** Central directory bytes allowed (default MAX_DIRECTORY_BYTES). */
  maxDirectoryBytes?: number;
  /** Return the root go.mod's content in the report (held in memory, up to 16 MiB). */
  keepGoMod?: boolean;
  /**
   * Digests taken while the zip streamed in (ZipStreamDigester). Used only when
   * they match the central directory entry for entry (offset, name, method,
   * sizes, CRC-32); otherwise every entry is inflated again from the file. The
   * layout rules are checked on the file either way.
   */
  streamed?: StreamedEntry[] | null;
  /** Told the size of every piece of content as it is inflated (for tests and metrics). */
  onInflated?: (bytes: number) => void;
  /**
   * Files (by full entry name) whose verified content the report returns, up
   * to maxBytes each: read once more after the checks, and compared with
   * the digest that went into h1.
   */
  keep?: { match: (name: string) => boolean; maxBytes: number };
}

function checkSize(size: number): void {
  if (size > MAX_ZIP_FILE) {
    throw new ModgateError(
      'ZIP_TOO_LARGE',
      `module zip file is too large (${size} bytes; limit is ${MAX_ZIP_FILE} bytes)`,
      { size },
    );
  }
}

async function withZip<T>(file: string, fn: (z: ZipFile) => Promise<T>): Promise<T> {
  const z = await openZipFile(file);
  try {
    return await fn(z);
  } finally {
    await z.close();
  }
}

const isDir = (d: ZipDirectory, i: number): boolean =>
  d.nameLen[i]! > 0 && d.cd[d.nameStart[i]! + d.nameLen[i]! - 1] === 0x2f;

const EMPTY = createHash('sha256').digest();

/** dirhash.Hash1 over the entries, given each entry's digest at 32 * i. */
function hash1Of(d: ZipDirectory, digests: Buffer, order: (i: number) => number): string {
  const idx = Array.from({ length: d.count }, (_, i) => i);
  idx.sort((a, b) =>
    d.cd.compare(
      d.cd,
      d.nameStart[b]!,
      d.nameStart[b]! + d.nameLen[b]!,
      d.nameStart[a]!,
      d.nameStart[a]! + d.nameLen[a]!,
    ),
  );
  const h = createHash('sha256');
  for (const i of idx) {
    const name = entryName(d, i);
    if (name.includes(0x0a))
      throw new ModgateError(
        'HASH_NAME_INVALID',
        'dirhash: filenames with newlines are not supported',
        { name: name.toString('utf8') },
      );
    const j = order(i);
    h.update(`${digests.subarray(32 * j, 32 * j + 32).toString('hex')}  `);
    h.update(name);
    h.update('\n');
  }
  return `h1:${h.digest('base64')}`;
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
  return withZip(file, async (z) => {
    checkSize(z.size);
    const maxFiles = opts.maxFiles ?? MAX_ENTRIES;
    const d = await readDirectory(z, {
      maxEntries: maxFiles,
      maxDirectoryBytes: opts.maxDirectoryBytes ?? MAX_DIRECTORY_BYTES,
    });
    const names = {
      count: d.count,
      name: (i: number) => entryName(d, i),
      size: (i: number) => d.usize[i]!,
    };
    const err = checkedZipError(
      checkEntryList(mod, names, { collectValid: false, maxPaths: 2 * maxFiles }),
    );
    if (err) throw err;
    await checkLocalHeaders(z, d);
    const goModName = Buffer.from(`${mod.path}@${mod.version}/go.mod`);
    let goModAt = -1;
    for (let i = 0; i < d.count && opts.keepGoMod; i++)
      if (entryName(d, i).equals(goModName)) goModAt = i;
    const digests = Buffer.alloc(32 * d.count);
    for (let i = 0; i < d.count; i++) if (isDir(d, i)) EMPTY.copy(digests, 32 * i);
    const report: ZipReport = {
      h1: '',
      fileCount: 0,
      uncompressedSize: 0,
      zipSize: z.size,
      warnings: [],
    };
    if (fromStream(d, opts.streamed, digests)) {
      if (goModAt >= 0)
        report.goMod = (await digestEntry(z, d, goModAt, true, opts.onInflated)).data;
    } else {
      const kept = await digestAll(z, d, digests, (i) => !isDir(d, i), goModAt, opts.onInflated);
      if (kept) report.goMod = kept;
    }
    let links = 0;
    for (let i = 0; i < d.count; i++) {
      if (isDir(d, i)) continue;
      report.fileCount++;
      report.uncompressedSize += d.usize[i]!;
      if (((d.external[i]! >>> 16) & 0o170000) === 0o120000 && links++ < MAX_WARNINGS)
        report.warnings.push(
          `${entryName(d, i).toString('utf8')}: symbolic link stored as a regular file`,
        );
    }
    if (links > MAX_WARNINGS)
      report.warnings.push(`(and ${links - MAX_WARNINGS} more symbolic links)`);
    report.h1 = hash1Of(d, digests, (i) => i);
    if (opts.keep) report.kept = await keptFiles(z, d, digests, opts.keep);
    return report;
  });
}

/** The content of the files that `keep` matches, each checked against its verified digest. */
async function keptFiles(
  z: ZipFile,
  d: ZipDirectory,
  digests: Buffer,
  keep: NonNullable<VerifyOptions['keep']>,
): Promise<NonNullable<ZipReport['kept']>> {
  const out: NonNullable<ZipReport['kept']> = [];
  for (let i = 0; i < d.count; i++) {
    if (isDir(d, i)) continue;
    const name = entryName(d, i).toString('utf8');
    if (!keep.match(name)) continue;
    if (d.usize[i]! > keep.maxBytes) {
      out.push({ name, data: null });
      continue;
    }
    const r = await digestEntry(z, d, i, true);
    if (!r.sha256.equals(digests.subarray(32 * i, 32 * i + 32)))
      throw new ModgateError('ZIP_INVALID', `${name} changed after it was verified`, { name });
    out.push({ name, data: r.data ?? Buffer.alloc(0) });
  }
  return out;
}

/**
 * dirhash.HashZip: the h1 of every entry of a zip, without module rules (a
 * repeated name hashes its last entry's content, as HashZip's map does).
 */
export async function hashZipFile(file: string): Promise<string> {
  return withZip(file, async (z) => {
    const d = await readDirectory(z, {
      maxEntries: MAX_ENTRIES,
      maxDirectoryBytes: MAX_DIRECTORY_BYTES,
    });
    await checkLocalHeaders(z, d);
    const last = new Map<string, number>();
    for (let i = 0; i < d.count; i++) last.set(entryName(d, i).toString('latin1'), i);
    const digests = Buffer.alloc(32 * d.count);
    for (let i = 0; i < d.count; i++) if (isDir(d, i)) EMPTY.copy(digests, 32 * i);
    const wanted = new Set(last.values());
    await digestAll(z, d, digests, (i) => wanted.has(i) && !isDir(d, i), -1);
    return hash1Of(d, digests, (i) => last.get(entryName(d, i).toString('latin1'))!);
  });
}
