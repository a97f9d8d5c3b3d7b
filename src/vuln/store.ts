/**
 * The held copy of the vulnerability database on local disk:
 * `<dataDir>/vulndb/db.zip` (the layout's files, as they came) and
 * `<dataDir>/vulndb/state.json`, its modified and sha256 sealed with the
 * gateway's state key. Each is replaced atomically (temp + fsync + rename),
 * the zip first, so a crash leaves the old pair or a new zip whose state
 * does not match (then the copy is fetched again). A copy edited or replaced
 * on disk does not match its sealed state and is not loaded.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import yazl from 'yazl';
import { ModgateError, isModgateError } from '../errors.js';
import { writeFileAtomic } from '../storage/atomic.js';
import type { StateSealer } from '../storage/sealed.js';
import { checkSnapshot, type Snapshot } from './layout.js';
import { readZip } from './source.js';

const PURPOSE = 'vulndb-state';

export interface HeldState {
  modified: string;
  sha256: string;
}

/** Builds a stored zip of the files, in path order, with fixed times (reproducible). */
export function zipFiles(files: Map<string, Buffer>): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const p of [...files.keys()].sort())
    z.addBuffer(files.get(p)!, p, { mtime: new Date(Date.UTC(1980, 0, 1)), compress: true });
  z.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => chunks.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    z.outputStream.on('error', reject);
  });
}

export class VulnStore {
  private readonly dir: string;

  constructor(
    dataDir: string,
    private readonly sealer: StateSealer,
  ) {
    this.dir = path.join(dataDir, 'vulndb');
  }

  get zipPath(): string {
    return path.join(this.dir, 'db.zip');
  }

  /** The sealed state, or undefined when none is held; throws when it was tampered with. */
  async state(): Promise<HeldState | undefined> {
    const raw = await readFile(path.join(this.dir, 'state.json')).catch(() => undefined);
    if (!raw) return undefined;
    const body = this.sealer.open(PURPOSE, 'state.json', raw);
    if (body === null)
      throw new ModgateError(
        'VULNDB_INVALID',
        'the held vulnerability database state does not open with the state key (edited on disk?)',
        {
          reason: 'state seal',
        },
      );
    return JSON.parse(body) as HeldState;
  }

  /** The held copy, checked again; undefined when none is held. */
  async load(): Promise<Snapshot | undefined> {
    const st = await this.state();
    if (!st) return undefined;
    let snap: Snapshot;
    try {
      snap = checkSnapshot(await readZip(this.zipPath));
    } catch (err) {
      if (isModgateError(err))
        throw new ModgateError(
          'VULNDB_INVALID',
          `the held vulnerability database does not load: ${err.message}`,
          { reason: 'held copy' },
        );
      throw err;
    }
    if (snap.sha256 !== st.sha256 || snap.modified !== st.modified)
      throw new ModgateError(
        'VULNDB_INVALID',
        'the held vulnerability database is not the copy its sealed state names (replaced on disk?)',
        {
          reason: 'held copy mismatch',
        },
      );
    return snap;
  }

  async save(snap: Snapshot): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.zipPath, await zipFiles(snap.files), 0o600);
    const state: HeldState = { modified: snap.modified, sha256: snap.sha256 };
    await writeFileAtomic(
      path.join(this.dir, 'state.json'),
      this.sealer.seal(PURPOSE, 'state.json', JSON.stringify(state)),
      0o600,
    );
  }
}
