import type { Test } from 'tap';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (the folder holding package.json). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Go's own known-answer vectors live beside the checkout in ../shared/testdata
 * (override with MODGATE_TESTDATA). They are read in place, never copied.
 */
export const testdataDir =
  process.env.MODGATE_TESTDATA ?? path.resolve(repoRoot, '../shared/testdata');

export function hasTestdata(): boolean {
  return existsSync(path.join(testdataDir, 'README.md'));
}

/**
 * Guard for conformance suites: when the vectors are absent the suite says so
 * in one line and skips itself (the only skip allowed in main).
 */
export function conformance(t: Test): boolean {
  if (hasTestdata()) return true;
  t.comment(`conformance vectors not found at ${testdataDir}: skipping this suite`);
  t.plan(0, 'conformance vectors absent');
  return false;
}

export function td(...parts: string[]): string {
  return path.join(testdataDir, ...parts);
}

export async function readJson<T = unknown>(...parts: string[]): Promise<T> {
  return JSON.parse(await readFile(td(...parts), 'utf8')) as T;
}
