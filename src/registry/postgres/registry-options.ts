import type { Logger } from '../../log/logger.js';
import type { RegistryLimits } from '../policy-registry.js';

/** The PostgreSQL registry's options (src/registry/postgres/postgres-registry.ts). */
export interface PostgresRegistryOptions {
  /** libpq-style connection string, e.g. postgres://unwrapd@db:5432/unwrapd?sslmode=verify-full. */
  connectionString: string;
  /** The schema holding unwrapd's tables; created and migrated at open. Default "unwrapd". */
  schema?: string;
  limits?: Partial<RegistryLimits>;
  /** Connections for writes and replays (the feed has its own). Default 4. */
  poolMax?: number;
  /** Past this long cut off from PostgreSQL, the instance is deaf: cache off. Default 5000 ms. */
  feedGraceMs?: number;
  /** The safety-net poll and heartbeat of the feed. Default 1000 ms. */
  feedPollMs?: number;
  /** Reconnect backoff of the feed (doubling, with jitter). Defaults 100 ms and 5000 ms. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** `awaitFleet` waits for the fleet (false: it resolves at once, the acknowledgement is the commit). Default true. */
  fleetAckWait?: boolean;
  /** The instance lease (database clock), its renewal interval, and the self-fencing margin. Defaults 10000, 2000, 2000 ms. */
  fleetLeaseMs?: number;
  fleetRenewMs?: number;
  fleetFenceMarginMs?: number;
  /** The monotonic clock of the lease (ms); default performance.now. Tests inject one. */
  clock?: () => number;
  /** How long to keep trying to reach PostgreSQL at open. Default 10 s. */
  connectTimeoutMs?: number;
  log?: Logger;
}

export const DEFAULT_SCHEMA = 'unwrapd';
