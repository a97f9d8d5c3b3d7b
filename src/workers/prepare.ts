/**
 * What the primary does once, before any worker starts: every check serve
 * makes (so that a bad config is reported once, not by N workers), the keys
 * that must exist before two processes could race to create them, and the
 * clean-up of what a crash left (workers clean only their own scratch space,
 * since the others' is in use).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { loadOrCreateAuditKey } from '../audit/checkpoint.js';
import type { ModgateConfig } from '../config/types.js';
import { removeStaleTemps } from '../storage/atomic.js';
import { FsBlobStore } from '../storage/fs.js';
import { StateSealer } from '../storage/sealed.js';
import { auditKeyFile, validateForServe } from '../wiring.js';

export async function preparePrimary(config: ModgateConfig, logger: Logger): Promise<void> {
  await validateForServe(config);
  await rm(path.join(config.dataDir, 'spool'), { recursive: true, force: true });
  await removeStaleTemps(config.dataDir, ['store', 's3-cache']);
  if (config.storage.kind === 'fs')
    await new FsBlobStore(path.join(config.dataDir, 'store')).clearTemp();
  await StateSealer.loadOrCreate(path.join(config.dataDir, 'keys', 'state.key'));
  if (config.audit.enabled) {
    const key = await loadOrCreateAuditKey(auditKeyFile(config));
    if (key.created)
      logger.warn(
        { verifierKey: key.verifierKey },
        `created the audit signing key; keep its verifier key in config (audit.verifierKey): ${key.verifierKey}`,
      );
  }
}
