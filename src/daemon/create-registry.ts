import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { createFileRegistry } from '../registry/file-registry.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';

/**
 * The registry the config names: the file registry (embedded default) or PostgreSQL (a fleet; its code and
 * `pg` are loaded only then).
 */
export async function createRegistryFromConfig(config: Config, log: Logger): Promise<PolicyRegistry> {
  const limits = { maxPoliciesPerTenant: config.maxPoliciesPerTenant };
  if (config.registryBackend === 'postgres') {
    const { PostgresRegistry } = await import('../registry/postgres/postgres-registry.js');
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
