import type { Test } from 'tap';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (the folder holding package.json). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Go's own known-answer vectors, committed in test/vectors (see its README for
 * sources and licenses). MODGATE_TESTDATA may point at another copy with the
 * same layout, e.g. a newer set beside the checkout.
 */
export const testdataDir = process.env.MODGATE_TESTDATA
  ? path.resolve(process.env.MODGATE_TESTDATA)
  : path.resolve(repoRoot, 'test/vectors');

export function hasTestdata(dir = testdataDir): boolean {
  return existsSync(path.join(dir, 'README.md'));
}

/**
 * Guard for conformance suites. The vectors are part of the project, so their
 * absence is a broken checkout or a wrong override: the suite fails loudly
 * rather than skipping, since a skipped conformance suite proves nothing.
 */
export function conformance(t: Test, dir = testdataDir): true {
  if (hasTestdata(dir)) return true;
  const message = `conformance vectors not found at ${dir} (test/vectors, or MODGATE_TESTDATA)`;
  t.fail(message);
  throw new Error(message);
}

export function td(...parts: string[]): string {
  return path.join(testdataDir, ...parts);
}

export async function readJson<T = unknown>(...parts: string[]): Promise<T> {
  return JSON.parse(await readFile(td(...parts), 'utf8')) as T;
}
