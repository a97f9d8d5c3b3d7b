/**
 * Builds the vulnerability service of a configuration (used by the
 * composition root and by `modgate policy check`), and turns its index into
 * the facts the policy gate adds to each decision.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { ModgateConfig } from '../config/types.js';
import type { AuditPort, ModuleFacts } from '../contracts.js';
import type { StateSealer } from '../storage/sealed.js';
import type { UpstreamClient } from '../upstream/client.js';
import { VulnService } from './service.js';
import { localSource, urlSource, type VulnSource } from './source.js';
import { VulnStore } from './store.js';

/** A URL source for http(s) locations, else a local zip or folder. */
export function sourceOf(location: string, client?: UpstreamClient): VulnSource {
  if (/^https?:\/\//i.test(location)) {
    if (!client) throw new Error('a URL vulnerability source needs the upstream client');
    return urlSource(location, client);
  }
  return localSource(path.resolve(location));
}

export function createVulnService(
  config: ModgateConfig,
  deps: {
    client?: UpstreamClient;
    sealer?: StateSealer;
    audit: AuditPort;
    logger?: Logger;
    onAlarm?: (code: string) => void;
  },
): VulnService {
  return new VulnService({
    source: sourceOf(config.vulndb.source, deps.client),
    ...(deps.sealer ? { store: new VulnStore(config.dataDir, deps.sealer) } : {}),
    audit: deps.audit,
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.onAlarm ? { onAlarm: deps.onAlarm } : {}),
  });
}

/** The vulnerability facts of one version, for RegoGate's `vulns` option. */
export function vulnFacts(
  service: VulnService,
): (module: string, version: string) => Pick<ModuleFacts, 'vulns' | 'vulndb'> {
  return (module, version) => {
    const index = service.index;
    if (!index) return { vulns: [], vulndb: { enabled: true, loaded: false, modified: '' } };
    return {
      vulns: index.lookup(module, version).map((f) => ({ ...f })),
      vulndb: { enabled: true, loaded: true, modified: index.modified },
    };
  };
}
