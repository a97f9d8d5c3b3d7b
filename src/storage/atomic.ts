import { randomBytes } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
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
