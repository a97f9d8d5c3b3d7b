/**
 * A SumdbStore on the filesystem:
 *   <dir>/<name>/latest                 newest verified signed tree head
 *   <dir>/<name>/tile/H/L/NNN[.p/W]     verified tiles
 *   <dir>/<name>/fork.json              the first fork evidence (created exclusively)
 *   <dir>/<name>/evidence/<time>-<rand>.json   every fork evidence detected
 * Every write is atomic: a temporary file is written, fsynced and renamed.
 *
 * Error codes:
 * | code              | meaning                                            |
 * |-------------------|----------------------------------------------------|
 * | SUMDB_STORE_PATH  | a database name or tile path is unsafe as a path   |
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createFileExclusive, writeFileAtomic as writeAtomic } from '../../storage/atomic.js';
import { ModgateError } from '../../errors.js';
import { parseTilePath } from '../tiles.js';
import { parseForkEvidence, type ForkEvidence, type SumdbStore } from './store.js';

function safeName(name: string): string {
  const parts = name.split('/');
  if (
    name === '' ||
    parts.some((p) => p === '' || p === '.' || p === '..' || !/^[A-Za-z0-9._~:-]+$/.test(p))
  ) {
    throw new ModgateError(
      'SUMDB_STORE_PATH',
      `unsafe checksum database name ${JSON.stringify(name)}`,
    );
  }
  return path.join(...parts);
}

function safeTile(p: string): string {
  try {
    parseTilePath(p);
  } catch (err) {
    throw new ModgateError(
      'SUMDB_STORE_PATH',
      `unsafe tile path ${JSON.stringify(p)}`,
      {},
      { cause: err },
    );
  }
  return path.join(...p.split('/'));
}

/** Atomic replace (temp file, fsync, rename, fsync of the folder), creating the folder first. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeAtomic(file, Buffer.from(data));
}

async function readOrNull(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export class FsSumdbStore implements SumdbStore {
  private heads: Promise<unknown> = Promise.resolve();

  constructor(private readonly dir: string) {}

  private base(name: string): string {
    return path.join(this.dir, safeName(name));
  }

  location(name: string): string {
    return path.join(this.base(name), 'latest');
  }

  getHead(name: string): Promise<Buffer | null> {
    return readOrNull(path.join(this.base(name), 'latest'));
  }

  /** One process owns the folder: compare-and-set is serialised here. */
  advanceHead(name: string, expected: Buffer | null, next: Buffer): Promise<boolean> {
    const file = path.join(this.base(name), 'latest');
    const run = this.heads.then(async () => {
      const cur = await readOrNull(file);
      if (cur === null ? expected !== null : expected === null || !cur.equals(expected))
        return false;
      await writeFileAtomic(file, next);
      return true;
    });
    this.heads = run.catch(() => undefined);
    return run;
  }

  getTile(name: string, tile: string): Promise<Buffer | null> {
    return readOrNull(path.join(this.base(name), safeTile(tile)));
  }

  putTile(name: string, tile: string, data: Buffer): Promise<void> {
    return writeFileAtomic(path.join(this.base(name), safeTile(tile)), data);
  }

  async putEvidence(name: string, evidence: ForkEvidence): Promise<void> {
    const stamp = evidence.detectedAt.replace(/[^0-9A-Za-z]/g, '');
    const file = path.join(
      this.base(name),
      'evidence',
      `${stamp}-${randomBytes(4).toString('hex')}.json`,
    );
    const text = `${JSON.stringify(evidence, null, 2)}\n`;
    await writeFileAtomic(file, text);
    await createFileExclusive(path.join(this.base(name), 'fork.json'), text, 0o644).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      },
    );
  }

  async forkEvidence(name: string): Promise<ForkEvidence | null> {
    const raw = await readOrNull(path.join(this.base(name), 'fork.json'));
    return raw === null ? null : parseForkEvidence(name, raw.toString('utf8'));
  }
}
