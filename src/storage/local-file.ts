/**
 * A blob that is a local file, opened once: its stamp (device, inode, size,
 * modification and change times, in nanoseconds) is read from the open
 * handle, and its bytes are read from that same handle, so the stamp always
 * describes the file whose bytes are read, whatever the path names later.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { BigIntStats } from 'node:fs';
import type { ByteRange, LocalBlob } from './types.js';

const READ_CHUNK = 256 * 1024;

function stampOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** Opens `file` as a LocalBlob; null when it does not exist. Other errors are thrown as they are. */
export async function openLocalFile(file: string): Promise<LocalBlob | null> {
  const openedAtMs = Date.now();
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
  let st: BigIntStats;
  try {
    st = await fh.stat({ bigint: true });
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
  if (!st.isFile()) {
    await fh.close().catch(() => undefined);
    return null;
  }
  let used = false;
  return {
    stamp: stampOf(st),
    size: Number(st.size),
    ctimeMs: Number(st.ctimeNs / 1_000_000n),
    openedAtMs,
    read(range?: ByteRange): Readable {
      if (used) throw new Error('a LocalBlob is read once');
      used = true;
      return fh.createReadStream({ ...(range ?? {}), highWaterMark: READ_CHUNK });
    },
    async restamp(): Promise<string | null> {
      const now = await stat(file, { bigint: true }).catch(() => null);
      return now?.isFile() ? stampOf(now) : null;
    },
    async close(): Promise<void> {
      if (used) return;
      used = true;
      await fh.close().catch(() => undefined);
    },
  };
}
