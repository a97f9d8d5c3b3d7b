/**
 * The licenses of a verified module zip: its root license files (files.ts),
 * each identified (identify.ts), and the module's SPDX expression, the AND of
 * its files' ids. A file that is no known license's text makes the module's
 * license unknown; so does a zip without a license file.
 */
import yauzl from 'yauzl';
import satisfies from 'spdx-satisfies';
import { ModgateError } from '../errors.js';
import { MAX_LICENSE_FILE, isLicenseFile } from './files.js';
import { identifyText } from './identify.js';
import { zipEntries } from '../storage/zip-entries.js';

export interface LicenseFile {
  path: string;
  /** The SPDX id, or "" when the text is no known license's. */
  spdx: string;
  sha256?: string;
}

export interface LicenseFacts {
  files: LicenseFile[];
  /** The SPDX expression (ids joined with AND), or "" when unknown. */
  expression: string;
  /** No license file, or one not identified. */
  unknown: boolean;
}

/** Licenses from the texts of root license files (path -> text). */
export function licensesOf(texts: Array<{ path: string; text: string }>): LicenseFacts {
  const files = texts
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((f) => ({ path: f.path, spdx: identifyText(f.text) ?? '' }));
  const unknown = files.length === 0 || files.some((f) => f.spdx === '');
  const ids = [...new Set(files.map((f) => f.spdx))].sort();
  return { files, expression: unknown ? '' : ids.join(' AND '), unknown };
}

/**
 * What verifyModuleZip is to keep of a module's zip: its root license files,
 * up to MAX_LICENSE_FILE bytes each (a longer one stays unknown).
 */
export function licenseKeep(module: string, version: string) {
  const prefix = `${module}@${version}/`;
  return {
    match: (name: string) => name.startsWith(prefix) && isLicenseFile(name.slice(prefix.length)),
    maxBytes: MAX_LICENSE_FILE,
  };
}

/** Licenses from the files that licenseKeep kept (data null: over-long, so unknown). */
export function licensesOfKept(
  kept: Array<{ name: string; data: Buffer | null }>,
  module: string,
  version: string,
): LicenseFacts {
  const cut = `${module}@${version}/`.length;
  return licensesOf(
    kept.map((k) => ({ path: k.name.slice(cut), text: k.data ? k.data.toString('utf8') : '' })),
  );
}

/** Reads the root license files of a module zip (already verified) and identifies them. */
export async function scanZipLicenses(
  file: string,
  module: string,
  version: string,
): Promise<LicenseFacts> {
  const prefix = `${module}@${version}/`;
  const zip = await yauzl.openPromise(file, { lazyEntries: true }).catch((err: Error) => {
    throw new ModgateError('ZIP_INVALID', `cannot read licenses of ${prefix}: ${err.message}`);
  });
  const texts: Array<{ path: string; text: string }> = [];
  try {
    for await (const entry of zipEntries(zip)) {
      const name = entry.fileName;
      if (!name.startsWith(prefix) || !isLicenseFile(name.slice(prefix.length))) continue;
      const stream = await zip.openReadStreamPromise(entry);
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of stream) {
        const b = c as Buffer;
        if (n < MAX_LICENSE_FILE) chunks.push(b.subarray(0, MAX_LICENSE_FILE - n));
        n += b.length;
      }
      // An over-long file is kept unknown rather than identified from a part.
      const text = n > MAX_LICENSE_FILE ? '' : Buffer.concat(chunks).toString('utf8');
      texts.push({ path: name.slice(prefix.length), text });
    }
  } finally {
    zip.close();
  }
  return licensesOf(texts);
}

/** Whether an expression is allowed by a list of SPDX ids (spdx-satisfies; false for a bad expression). */
export function expressionAllowed(expression: string, allowed: string[]): boolean {
  if (!expression || allowed.length === 0) return false;
  try {
    return satisfies(expression, allowed);
  } catch {
    return false;
  }
}
