/**
 * Which files of a module are its license files, the way pkg.go.dev decides
 * (golang.org/x/pkgsite internal/licenses: FileNames, matched without regard
 * to case, at the module root). PURE.
 */
const NAMES = [
  'COPYING',
  'COPYING.md',
  'COPYING.markdown',
  'COPYING.txt',
  'LICENCE',
  'LICENCE.md',
  'LICENCE.markdown',
  'LICENCE.txt',
  'LICENSE',
  'LICENSE.md',
  'LICENSE.markdown',
  'LICENSE.txt',
  'LICENSE-2.0.txt',
  'LICENCE-2.0.txt',
  'LICENSE-APACHE',
  'LICENCE-APACHE',
  'LICENSE-APACHE-2.0.txt',
  'LICENCE-APACHE-2.0.txt',
  'LICENSE-MIT',
  'LICENCE-MIT',
  'LICENSE.MIT',
  'LICENCE.MIT',
  'LICENSE.code',
  'LICENCE.code',
  'LICENSE.docs',
  'LICENCE.docs',
  'LICENSE.rst',
  'LICENCE.rst',
  'MIT-LICENSE',
  'MIT-LICENCE',
  'MIT-LICENSE.md',
  'MIT-LICENCE.md',
  'MIT-LICENSE.markdown',
  'MIT-LICENCE.markdown',
  'MIT-LICENSE.txt',
  'MIT-LICENCE.txt',
  'MIT_LICENSE',
  'MIT_LICENCE',
  'UNLICENSE',
  'UNLICENCE',
];

const LOWER = new Set(NAMES.map((n) => n.toLowerCase()));

/** Bytes read of one license file; a longer file is identified by its first bytes only (and then as unknown). */
export const MAX_LICENSE_FILE = 1 << 20;

/** True for a path (relative to the module root) that is a root license file. */
export function isLicenseFile(rel: string): boolean {
  return !rel.includes('/') && LOWER.has(rel.toLowerCase());
}
