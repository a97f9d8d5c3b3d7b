/**
 * Builders for the shared state's parts of the composition root: the cluster
 * single-flight of cold fetches, the guard that keeps hits from being served
 * without the state when so configured, and the /readyz line.
 */
import type { Logger } from 'pino';
import type { ModgateConfig } from './config/types.js';
import { ClusterFlight } from './goproxy/shared.js';
import type { SharedState } from './state/types.js';

export { openState, replicaIdOf } from './state/open.js';

export interface StateParts {
  cluster?: ClusterFlight;
  guard?: () => Promise<void>;
}

export function stateParts(
  config: ModgateConfig,
  state: SharedState,
  logger: Logger,
  workers = false,
): StateParts {
  const parts: StateParts = {};
  // One process: the in-process single-flight is all there is to share.
  if (state.engine !== 'local' || workers) {
    parts.cluster = new ClusterFlight({
      leases: state,
      ttlMs: config.cluster.leaseTtlMs,
      maxPollMs: config.cluster.leasePollMs,
      maxWaitMs: Math.max(config.server.requestDeadlineMs, 2 * config.cluster.leaseTtlMs),
      onLostLease: (key) =>
        logger.warn({ lease: key }, 'a fetch lease expired while its download was running'),
    });
  }
  if (!config.state.serveCachedWhenDown) parts.guard = () => state.check();
  return parts;
}

/**
 * The /readyz line of the shared state. An unreachable state makes the replica
 * unready only when hits need it too (serveCachedWhenDown: false): otherwise
 * every replica behind the balancer would turn unready at once, and the cache
 * hits they can still serve safely would be lost.
 */
export async function stateReadiness(
  config: ModgateConfig,
  state: SharedState,
): Promise<{ ok: boolean; line: string }> {
  try {
    await state.check();
    return { ok: true, line: `ok (${state.engine}, replica ${state.replicaId})` };
  } catch (err) {
    const why = `${state.engine} is down: ${(err as Error).message}`;
    return config.state.serveCachedWhenDown
      ? { ok: true, line: `${why}; serving verified cache hits only` }
      : { ok: false, line: why };
  }
}
