/**
 * The data folder's one-writer lock (`<dataDir>/serve.lock`): a serving
 * process (a lone `serve`, or the primary of server.workers) and `modgate
 * import` hold it, so an import never writes the cache, the checksum-database
 * state and the audit trail under a running gateway. The holder is named by
 * pid and the kernel's start time of that pid (src/audit/chain-lock.ts), so a
 * crashed holder's lock is taken over.
 */
import { mkdir } from 'node:fs/promises';
import { ChainLock } from '../audit/chain-lock.js';
import { ModgateError } from '../errors.js';

export const DATA_LOCK_FILE = 'serve.lock';

/** Takes the data folder's lock; throws DATA_DIR_BUSY while another live process holds it. */
export async function lockDataDir(dataDir: string, who: string): Promise<ChainLock> {
  await mkdir(dataDir, { recursive: true });
  const lock = new ChainLock(dataDir, who, {
    file: DATA_LOCK_FILE,
    busy: (file) =>
      new ModgateError(
        'DATA_DIR_BUSY',
        `the data folder ${dataDir} is in use by another live modgate process (${file}); stop it first (${who} needs the folder to itself)`,
      ),
  });
  await lock.take();
  return lock;
}
