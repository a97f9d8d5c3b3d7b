/**
 * The replay on disk: manifest.json maps each recorded request path to its
 * answer (status and, for 200, a body file named by the SHA-256 of the path),
 * plus the module set and its zips. The manifest is written last, so a folder
 * without one is an unfinished recording and is never replayed.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModuleVersion } from './project.js';

export interface Answer {
  status: number;
  size: number;
}

export interface SetZip extends ModuleVersion {
  /** The request path of its zip, e.g. /github.com/!azure/x/@v/v1.0.0.zip */
  urlPath: string;
  size: number;
  files: number;
}

export interface Manifest {
  module: string;
  version: string;
  recorded: string;
  /** The signed tree head every lookup and tile in the replay is relative to. */
  head: string;
  set: SetZip[];
  answers: Record<string, Answer>;
}

export function bodyFile(dir: string, urlPath: string): string {
  return path.join(dir, 'bodies', createHash('sha256').update(urlPath).digest('hex'));
}

export async function loadManifest(dir: string): Promise<Manifest | null> {
  const text = await readFile(path.join(dir, 'manifest.json'), 'utf8').catch(() => null);
  return text === null ? null : (JSON.parse(text) as Manifest);
}

/** A request path as recorded: percent-decoded ("%21" and "!" are one path); null if malformed. */
export function decodePath(p: string): string | null {
  try {
    return decodeURIComponent(p);
  } catch {
    return null;
  }
}
