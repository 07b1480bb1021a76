import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { createFileRegistry } from '../registry/file-registry.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import { PostgresRegistry } from '../registry/postgres/postgres-registry.js';

/** The registry the config names: the file registry (embedded default) or PostgreSQL (a fleet). */
export function createRegistryFromConfig(config: Config, log: Logger): PolicyRegistry {
  const limits = { maxPoliciesPerTenant: config.maxPoliciesPerTenant };
  if (config.registryBackend === 'postgres') {
    return new PostgresRegistry({
      connectionString: config.pgUrl,
      schema: config.pgSchema,
      limits,
      poolMax: config.pgPoolMax,
      feedGraceMs: config.feedGraceMs,
      feedPollMs: config.feedPollMs,
      reconnectMinMs: config.feedReconnectMinMs,
      reconnectMaxMs: config.feedReconnectMaxMs,
      fleetAckWait: config.fleetAckWait,
      fleetLeaseMs: config.fleetLeaseMs,
      fleetRenewMs: config.fleetRenewMs,
      fleetFenceMarginMs: config.fleetFenceMarginMs,
      log: log.child({ component: 'registry' }),
    });
  }
  return createFileRegistry({ path: config.registryPath, limits });
}
