import { randomBytes } from 'node:crypto';
import { link, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** fsyncs a directory so that created, renamed or removed entries are durable. */
export async function syncDir(dir: string): Promise<void> {
  let d;
  try {
    d = await open(dir, 'r');
  } catch {
    return;
  }
  try {
    await d.sync();
  } catch {
    // Some file systems cannot fsync a directory.
  } finally {
    await d.close();
  }
}

async function writeTemp(file: string, data: string | Buffer, mode: number): Promise<string> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  return tmp;
}

/** Replaces `file` so that readers see the old or the new content, never a mix. */
export async function writeFileAtomic(
  file: string,
  data: string | Buffer,
  mode = 0o644,
): Promise<void> {
  const tmp = await writeTemp(file, data, mode);
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(path.dirname(file));
}

/** Creates `file` with complete content or fails with EEXIST if it exists. */
export async function createFileExclusive(
  file: string,
  data: string | Buffer,
  mode: number,
): Promise<void> {
  const tmp = await writeTemp(file, data, mode);
  try {
    await link(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
  await syncDir(path.dirname(file));
}

/** Names of writeTemp's temp files: `.<name>.<12 hex>.tmp`. */
const TEMP_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes the temp files that a crash left under `root` (at start, before
 * anything writes). Folders named in `skip` (relative to root) are not entered.
 * Returns how many were removed.
 */
export async function removeStaleTemps(
  root: string,
  skip: string[] = [],
  depth = 8,
): Promise<number> {
  let removed = 0;
  const walk = async (dir: string, rel: string, left: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const relName = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (left > 0 && !skip.includes(relName)) await walk(full, relName, left - 1);
      } else if (e.isFile() && TEMP_NAME.test(e.name)) {
        await rm(full, { force: true });
        removed++;
      }
    }
  };
  await walk(root, '', depth);
  return removed;
}
