import path from 'node:path';
import type { ModgateConfig } from '../config/types.js';

/**
 * Where the config puts the audit trail and its key. Kept apart from the
 * composition root so that the audit commands read them without loading the
 * gateway's modules.
 */
export function auditDir(config: ModgateConfig): string {
  return config.audit.dir ?? path.join(config.dataDir, 'audit');
}

export function auditKeyFile(config: ModgateConfig): string {
  return config.audit.keyFile ?? path.join(config.dataDir, 'keys', 'audit.key');
}
