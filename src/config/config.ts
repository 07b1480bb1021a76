import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parseAuthorizationTable, type AuthorizationEntry } from '../auth/authorization-table.js';
import { parseRoles } from '../auth/caller.js';
import type { LogLevel } from '../log/logger.js';
import { AZURE_CREDENTIAL_KINDS, type AzureCredentialKind } from '../providers/azure-credential-kind.js';
import { isKeyBase } from '../providers/key-base.js';

/**
 * Daemon configuration. Each setting resolves in this order: command-line flag, environment variable,
 * config file (JSON, `--config` or UNWRAPD_CONFIG), default. docs/configuration.md lists every setting.
 */
export interface Config {
  /** `unix:///path/to.sock` or `host:port`. Default: unix://<dataDir>/unwrapd.sock */
  listen: string;
  dataDir: string;
  keystorePath: string;
  registryPath: string;
  /** Largest plaintext block accepted by Encrypt. */
  maxBlockBytes: number;
  /** Most items in one EncryptBatch / DecryptBatch call. */
  batchMaxItems: number;
  /** Most plaintext bytes in one EncryptBatch (DecryptBatch: the same plus 241 bytes of envelope overhead per item). */
  batchMaxBytes: number;
  /** Plaintext bytes per segment of the envelopes EncryptStream writes (recorded in each envelope). */
  streamSegmentBytes: number;
  cacheMaxEntries: number;
  cacheMaxAgeMs: number;
  providerTimeoutMs: number;
  shutdownTimeoutMs: number;
  maxPoliciesPerTenant: number;
  /** File mode of the Unix socket: who in the pod may call. */
  socketMode: number;
  /** Create a local keystore and a demo policy on first run. */
  demo: boolean;
  /** Ask the second customer key when the first has not answered within this long. */
  hedgeDelayMs: number;
  /** Re-unwrap a cached key in the background when it has less than this long left. */
  refreshAheadMs: number;
  /** How often the background refresh looks for keys that are due. */
  refreshIntervalMs: number;
  /** Roles of callers on the data listener the authorization table names no more precisely (default `user`). */
  callerRoles: string;
  /** The append-only audit log (JSON lines, hash-chained). */
  auditLogPath: string;
  /** Where policies live: `file` (embedded default) or `postgres` (a fleet sharing one registry). */
  registryBackend: 'file' | 'postgres';
  /** PostgreSQL connection string (postgres backend). Never logged with its password. */
  pgUrl: string;
  /** The schema holding unwrapd's tables (created and migrated at start). */
  pgSchema: string;
  /** Connections for writes and event replays (the change feed has one more of its own). */
  pgPoolMax: number;
  /** Cut off from the change feed longer than this: the instance is deaf, and its cache is off. */
  feedGraceMs: number;
  /** The change feed's safety-net poll and heartbeat. */
  feedPollMs: number;
  /** Reconnect backoff of the change feed: first delay, and the cap it doubles up to. */
  feedReconnectMinMs: number;
  feedReconnectMaxMs: number;
  /** A revoke (or purge, or retired key version) is acknowledged only once every live instance applied it. */
  fleetAckWait: boolean;
  /** Event Grid webhook for Key Vault events: `host:port`, or empty (off). */
  eventGridListen: string;
  /** Shared secret Event Grid must present (`?code=` in the subscription URL, or a header). */
  eventGridSecret: string;
  /** Largest request body the webhook accepts (413 beyond). */
  eventGridMaxBodyBytes: number;
  /** Azure Key Vault provider (`https:` key ids): which @azure/identity credential (docs/providers.md). */
  azureCredential: AzureCredentialKind;
  /** SDK retries after the first try; first retry delay; cap on a retry delay and on an honoured Retry-After. */
  azureMaxRetries: number;
  azureRetryDelayMs: number;
  azureMaxRetryDelayMs: number;
  /** Time for one HTTP try to the vault (the caller's deadline still bounds the whole call). */
  azureTryTimeoutMs: number;
  /** Periodic status probe of cached policies' customer keys (evicts on revoked); 0 = off. */
  probeIntervalMs: number;
  /** Most status calls one probe round makes. */
  probeMaxCalls: number;
  /** PKCS#11 provider (`pkcs11:` URIs): the module; empty = no PKCS#11 provider. */
  pkcs11Module: string;
  /** Token used by `pkcs11:` URIs that name none. */
  pkcs11Token: string;
  /** File holding the user PIN (else the environment variable UNWRAPD_PKCS11_PIN). */
  pkcs11PinFile: string;
  logLevel: LogLevel;
  // ---- transport security (issue 9: TLS, mTLS, mesh identity; src/server/transport-security.ts) ----
  /** Server certificate chain (PEM) for a TCP listener; with `tlsKeyFile`, TCP serves TLS. */
  tlsCertFile: string;
  /** The server certificate's private key (PEM, mode 0600 or stricter). */
  tlsKeyFile: string;
  /** CA certificates (PEM) client certificates must chain to; set = mTLS required, callers are `tls:<id>`. */
  tlsClientCaFile: string;
  /** Acknowledge plaintext on a non-loopback TCP address (refused at start without it). */
  allowInsecureTcp: boolean;
  /** Honour `x-forwarded-client-cert` from a loopback peer (the local mesh proxy): callers are `mesh:<id>`. */
  trustForwardedClientCert: boolean;
  // --- trust (issue 9): caller identity, the admin listener, the authorization table ---
  /** The Admin service's listener: `unix:///path` (default unix://<dataDir>/admin.sock, mode 0600) or host:port. */
  adminListen: string;
  /** Roles of callers on the admin listener the table names no more precisely (default admin,user,system; not recovery). */
  adminSocketRoles: string;
  /** Group (name or gid) of the data socket, set before it is connectable; empty: the daemon's group. */
  socketGroup: string;
  /** A JSON file holding the authorization table (an array of entries); or `authorization` in the config file. */
  authorizationFile: string;
  /** The authorization table (docs/security.md), validated at start. Empty: the listeners' default roles. */
  authorization: AuthorizationEntry[];
  /** Access-denied audit records per caller identity per minute; beyond it, one summary says how many were suppressed. */
  denialAuditPerMinute: number;
  // -- purge (per-policy availability keys) --
  /** Where CreatePolicy creates a policy's own availability key when the request names none: a key base (`local:`, `pkcs11:token=<label>`, `https://<vault>/keys/`). */
  availabilityKeyBase: string;
  // ---- fleet (issue 10 item 6): instance leases, self-fencing, deaf refuses ----
  /** An instance's lease in the registry (database clock); a revoke waits for every instance holding one. */
  fleetLeaseMs: number;
  /** How often an instance renews its lease (right after reading the change feed). */
  fleetRenewMs: number;
  /** An instance that could not renew refuses this long before its lease runs out, by its own monotonic clock. */
  fleetFenceMarginMs: number;
  /** Deaf instances serve fresh unwraps (cache off) instead of refusing: opt-in, see docs/fleet.md for the risk. */
  deafServeUncached: boolean;
  // --- header: authenticated stream header (segmented format v2) ---
  /** The largest segment size DecryptStream accepts, whatever an envelope's header says (refused before any allocation). */
  streamMaxSegmentBytes: number;
  // --- streams: stream and connection bounds (src/server/stream-limits.ts, src/server/grpc-server.ts) ---
  /** Streams (EncryptStream, DecryptStream) open at once on the data listener, across all connections. */
  maxStreams: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: calls of any kind open at once on one connection. */
  maxStreamsPerConnection: number;
  /** A stream waiting this long on its client (no message from it, or no response taken by it) ends; 0 = off. */
  streamIdleTimeoutMs: number;
  /** A stream open this long ends, whatever it is doing; 0 = off. */
  streamMaxLifetimeMs: number;
  /** One budget of bytes all streams together may hold (requests being assembled, responses not yet sent). */
  streamBufferBudgetBytes: number;
  /** The server pings each connection this often and closes it if the ping is not answered within keepaliveTimeoutMs. */
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  /** A connection older than this is asked to go away (GOAWAY); its calls then have maxConnectionAgeGraceMs to finish. 0 = off. */
  maxConnectionAgeMs: number;
  maxConnectionAgeGraceMs: number;
  /** A connection with no call for this long is asked to go away. 0 = off. */
  maxConnectionIdleMs: number;
  /** Largest header list (metadata) a call may send, in bytes (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE). */
  maxMetadataBytes: number;
  // --- split: shutdown steps ---
  /** Bound on each shutdown step besides the drain (closing the feed, probe, audit log, registry, providers). */
  shutdownStepTimeoutMs: number;
  // --- audit settings ---
  /** Also write each audit record as one JSON line (docs/audit.md) to `stdout` or this file; empty: off. */
  auditShip: string;
}

interface Setting<K extends keyof Config> {
  key: K;
  flag: string;
  env: string;
  parse: (raw: string) => Config[K];
}

const int =
  (name: string, min: number, max: number) =>
  (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    return n;
  };
const bool =
  (name: string) =>
  (raw: string): boolean => {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  };
const str = (raw: string): string => raw;
const level = (raw: string): LogLevel => {
  if (['debug', 'info', 'warn', 'error', 'silent'].includes(raw)) return raw as LogLevel;
  throw new ConfigError(`logLevel must be debug, info, warn, error or silent, got "${raw}"`);
};
const mode = (raw: string): number => {
  if (!/^0?[0-7]{3}$/.test(raw)) throw new ConfigError(`socketMode must be an octal mode such as 0660, got "${raw}"`);
  return parseInt(raw, 8);
};

const rolesOf =
  (name: string) =>
  (raw: string): string => {
    try {
      parseRoles(raw);
    } catch (err) {
      throw new ConfigError(`${name}: ${(err as Error).message}`);
    }
    return raw;
  };
const roles = rolesOf('callerRoles');

const backend = (raw: string): 'file' | 'postgres' => {
  if (raw === 'file' || raw === 'postgres') return raw;
  throw new ConfigError(`registryBackend must be file or postgres, got "${raw}"`);
};
const schemaName = (raw: string): string => {
  if (!/^[a-z_][a-z0-9_]{0,47}$/.test(raw) || raw.startsWith('pg_'))
    throw new ConfigError(
      `pgSchema must be 1-48 characters of a-z 0-9 _ (not starting with a digit or pg_), got "${raw}"`,
    );
  return raw;
};

const credentialKind = (raw: string): AzureCredentialKind => {
  if ((AZURE_CREDENTIAL_KINDS as readonly string[]).includes(raw)) return raw as AzureCredentialKind;
  throw new ConfigError(`azureCredential must be one of ${AZURE_CREDENTIAL_KINDS.join(', ')}, got "${raw}"`);
};

export const MAX_BLOCK_BYTES_LIMIT = 64 * 1024 * 1024;

const SETTINGS = [
  { key: 'listen', flag: 'listen', env: 'UNWRAPD_LISTEN', parse: str },
  { key: 'dataDir', flag: 'data-dir', env: 'UNWRAPD_DATA_DIR', parse: str },
  { key: 'keystorePath', flag: 'keystore', env: 'UNWRAPD_KEYSTORE', parse: str },
  { key: 'registryPath', flag: 'registry', env: 'UNWRAPD_REGISTRY', parse: str },
  {
    key: 'maxBlockBytes',
    flag: 'max-block-bytes',
    env: 'UNWRAPD_MAX_BLOCK_BYTES',
    parse: int('maxBlockBytes', 1024, MAX_BLOCK_BYTES_LIMIT),
  },
  {
    key: 'batchMaxItems',
    flag: 'batch-max-items',
    env: 'UNWRAPD_BATCH_MAX_ITEMS',
    parse: int('batchMaxItems', 1, 100_000),
  },
  {
    key: 'batchMaxBytes',
    flag: 'batch-max-bytes',
    env: 'UNWRAPD_BATCH_MAX_BYTES',
    parse: int('batchMaxBytes', 1024, MAX_BLOCK_BYTES_LIMIT),
  },
  {
    key: 'streamSegmentBytes',
    flag: 'stream-segment-bytes',
    env: 'UNWRAPD_STREAM_SEGMENT_BYTES',
    parse: int('streamSegmentBytes', 1024, 4 * 1024 * 1024),
  },
  {
    key: 'cacheMaxEntries',
    flag: 'cache-max-entries',
    env: 'UNWRAPD_CACHE_MAX_ENTRIES',
    parse: int('cacheMaxEntries', 1, 1_000_000),
  },
  {
    key: 'cacheMaxAgeMs',
    flag: 'cache-max-age-ms',
    env: 'UNWRAPD_CACHE_MAX_AGE_MS',
    parse: int('cacheMaxAgeMs', 1000, 24 * 3600 * 1000),
  },
  {
    key: 'providerTimeoutMs',
    flag: 'provider-timeout-ms',
    env: 'UNWRAPD_PROVIDER_TIMEOUT_MS',
    parse: int('providerTimeoutMs', 10, 120_000),
  },
  {
    key: 'shutdownTimeoutMs',
    flag: 'shutdown-timeout-ms',
    env: 'UNWRAPD_SHUTDOWN_TIMEOUT_MS',
    parse: int('shutdownTimeoutMs', 0, 300_000),
  },
  {
    key: 'maxPoliciesPerTenant',
    flag: 'max-policies-per-tenant',
    env: 'UNWRAPD_MAX_POLICIES_PER_TENANT',
    parse: int('maxPoliciesPerTenant', 1, 100_000),
  },
  { key: 'socketMode', flag: 'socket-mode', env: 'UNWRAPD_SOCKET_MODE', parse: mode },
  { key: 'demo', flag: 'demo', env: 'UNWRAPD_DEMO', parse: bool('demo') },
  { key: 'hedgeDelayMs', flag: 'hedge-delay-ms', env: 'UNWRAPD_HEDGE_DELAY_MS', parse: int('hedgeDelayMs', 0, 60_000) },
  {
    key: 'refreshAheadMs',
    flag: 'refresh-ahead-ms',
    env: 'UNWRAPD_REFRESH_AHEAD_MS',
    parse: int('refreshAheadMs', 0, 24 * 3600 * 1000),
  },
  {
    key: 'refreshIntervalMs',
    flag: 'refresh-interval-ms',
    env: 'UNWRAPD_REFRESH_INTERVAL_MS',
    parse: int('refreshIntervalMs', 100, 3600 * 1000),
  },
  { key: 'callerRoles', flag: 'caller-roles', env: 'UNWRAPD_CALLER_ROLES', parse: roles },
  { key: 'auditLogPath', flag: 'audit-log', env: 'UNWRAPD_AUDIT_LOG', parse: str },
  { key: 'registryBackend', flag: 'registry-backend', env: 'UNWRAPD_REGISTRY_BACKEND', parse: backend },
  { key: 'pgUrl', flag: 'pg-url', env: 'UNWRAPD_PG_URL', parse: str },
  { key: 'pgSchema', flag: 'pg-schema', env: 'UNWRAPD_PG_SCHEMA', parse: schemaName },
  { key: 'pgPoolMax', flag: 'pg-pool-max', env: 'UNWRAPD_PG_POOL_MAX', parse: int('pgPoolMax', 1, 100) },
  { key: 'feedGraceMs', flag: 'feed-grace-ms', env: 'UNWRAPD_FEED_GRACE_MS', parse: int('feedGraceMs', 100, 600_000) },
  { key: 'feedPollMs', flag: 'feed-poll-ms', env: 'UNWRAPD_FEED_POLL_MS', parse: int('feedPollMs', 20, 60_000) },
  {
    key: 'feedReconnectMinMs',
    flag: 'feed-reconnect-min-ms',
    env: 'UNWRAPD_FEED_RECONNECT_MIN_MS',
    parse: int('feedReconnectMinMs', 10, 60_000),
  },
  {
    key: 'feedReconnectMaxMs',
    flag: 'feed-reconnect-max-ms',
    env: 'UNWRAPD_FEED_RECONNECT_MAX_MS',
    parse: int('feedReconnectMaxMs', 10, 600_000),
  },
  { key: 'fleetAckWait', flag: 'fleet-ack-wait', env: 'UNWRAPD_FLEET_ACK_WAIT', parse: bool('fleetAckWait') },
  { key: 'eventGridListen', flag: 'event-grid-listen', env: 'UNWRAPD_EVENT_GRID_LISTEN', parse: str },
  { key: 'eventGridSecret', flag: 'event-grid-secret', env: 'UNWRAPD_EVENT_GRID_SECRET', parse: str },
  {
    key: 'eventGridMaxBodyBytes',
    flag: 'event-grid-max-body-bytes',
    env: 'UNWRAPD_EVENT_GRID_MAX_BODY_BYTES',
    parse: int('eventGridMaxBodyBytes', 1024, 16 * 1024 * 1024),
  },
  { key: 'azureCredential', flag: 'azure-credential', env: 'UNWRAPD_AZURE_CREDENTIAL', parse: credentialKind },
  {
    key: 'azureMaxRetries',
    flag: 'azure-max-retries',
    env: 'UNWRAPD_AZURE_MAX_RETRIES',
    parse: int('azureMaxRetries', 0, 10),
  },
  {
    key: 'azureRetryDelayMs',
    flag: 'azure-retry-delay-ms',
    env: 'UNWRAPD_AZURE_RETRY_DELAY_MS',
    parse: int('azureRetryDelayMs', 1, 60_000),
  },
  {
    key: 'azureMaxRetryDelayMs',
    flag: 'azure-max-retry-delay-ms',
    env: 'UNWRAPD_AZURE_MAX_RETRY_DELAY_MS',
    parse: int('azureMaxRetryDelayMs', 1, 120_000),
  },
  {
    key: 'azureTryTimeoutMs',
    flag: 'azure-try-timeout-ms',
    env: 'UNWRAPD_AZURE_TRY_TIMEOUT_MS',
    parse: int('azureTryTimeoutMs', 10, 120_000),
  },
  {
    key: 'probeIntervalMs',
    flag: 'probe-interval-ms',
    env: 'UNWRAPD_PROBE_INTERVAL_MS',
    parse: int('probeIntervalMs', 0, 24 * 3600 * 1000),
  },
  {
    key: 'probeMaxCalls',
    flag: 'probe-max-calls',
    env: 'UNWRAPD_PROBE_MAX_CALLS',
    parse: int('probeMaxCalls', 1, 100_000),
  },
  { key: 'pkcs11Module', flag: 'pkcs11-module', env: 'UNWRAPD_PKCS11_MODULE', parse: str },
  { key: 'pkcs11Token', flag: 'pkcs11-token', env: 'UNWRAPD_PKCS11_TOKEN', parse: str },
  { key: 'pkcs11PinFile', flag: 'pkcs11-pin-file', env: 'UNWRAPD_PKCS11_PIN_FILE', parse: str },
  { key: 'logLevel', flag: 'log-level', env: 'UNWRAPD_LOG_LEVEL', parse: level },
  // transport security (issue 9)
  { key: 'tlsCertFile', flag: 'tls-cert-file', env: 'UNWRAPD_TLS_CERT_FILE', parse: str },
  { key: 'tlsKeyFile', flag: 'tls-key-file', env: 'UNWRAPD_TLS_KEY_FILE', parse: str },
  { key: 'tlsClientCaFile', flag: 'tls-client-ca-file', env: 'UNWRAPD_TLS_CLIENT_CA_FILE', parse: str },
  {
    key: 'allowInsecureTcp',
    flag: 'allow-insecure-tcp',
    env: 'UNWRAPD_ALLOW_INSECURE_TCP',
    parse: bool('allowInsecureTcp'),
  },
  {
    key: 'trustForwardedClientCert',
    flag: 'trust-forwarded-client-cert',
    env: 'UNWRAPD_TRUST_FORWARDED_CLIENT_CERT',
    parse: bool('trustForwardedClientCert'),
  },
  // --- trust (issue 9) ---
  { key: 'adminListen', flag: 'admin-listen', env: 'UNWRAPD_ADMIN_LISTEN', parse: str },
  {
    key: 'adminSocketRoles',
    flag: 'admin-socket-roles',
    env: 'UNWRAPD_ADMIN_SOCKET_ROLES',
    parse: rolesOf('adminSocketRoles'),
  },
  { key: 'socketGroup', flag: 'socket-group', env: 'UNWRAPD_SOCKET_GROUP', parse: str },
  { key: 'authorizationFile', flag: 'authorization-file', env: 'UNWRAPD_AUTHORIZATION_FILE', parse: str },
  {
    key: 'denialAuditPerMinute',
    flag: 'denial-audit-per-minute',
    env: 'UNWRAPD_DENIAL_AUDIT_PER_MINUTE',
    parse: int('denialAuditPerMinute', 1, 100_000),
  },
  // -- purge (per-policy availability keys) --
  { key: 'availabilityKeyBase', flag: 'availability-key-base', env: 'UNWRAPD_AVAILABILITY_KEY_BASE', parse: keyBase },
  // ---- fleet (issue 10 item 6) ----
  {
    key: 'fleetLeaseMs',
    flag: 'fleet-lease-ms',
    env: 'UNWRAPD_FLEET_LEASE_MS',
    parse: int('fleetLeaseMs', 300, 600_000),
  },
  {
    key: 'fleetRenewMs',
    flag: 'fleet-renew-ms',
    env: 'UNWRAPD_FLEET_RENEW_MS',
    parse: int('fleetRenewMs', 20, 300_000),
  },
  {
    key: 'fleetFenceMarginMs',
    flag: 'fleet-fence-margin-ms',
    env: 'UNWRAPD_FLEET_FENCE_MARGIN_MS',
    parse: int('fleetFenceMarginMs', 50, 300_000),
  },
  {
    key: 'deafServeUncached',
    flag: 'deaf-serve-uncached',
    env: 'UNWRAPD_DEAF_SERVE_UNCACHED',
    parse: bool('deafServeUncached'),
  },
  // --- header: authenticated stream header (segmented format v2) ---
  {
    key: 'streamMaxSegmentBytes',
    flag: 'stream-max-segment-bytes',
    env: 'UNWRAPD_STREAM_MAX_SEGMENT_BYTES',
    parse: int('streamMaxSegmentBytes', 1024, 4 * 1024 * 1024),
  },
  // --- streams: stream and connection bounds ---
  { key: 'maxStreams', flag: 'max-streams', env: 'UNWRAPD_MAX_STREAMS', parse: int('maxStreams', 1, 100_000) },
  {
    key: 'maxStreamsPerConnection',
    flag: 'max-streams-per-connection',
    env: 'UNWRAPD_MAX_STREAMS_PER_CONNECTION',
    parse: int('maxStreamsPerConnection', 1, 100_000),
  },
  {
    key: 'streamIdleTimeoutMs',
    flag: 'stream-idle-timeout-ms',
    env: 'UNWRAPD_STREAM_IDLE_TIMEOUT_MS',
    parse: int('streamIdleTimeoutMs', 0, 24 * 3600 * 1000),
  },
  {
    key: 'streamMaxLifetimeMs',
    flag: 'stream-max-lifetime-ms',
    env: 'UNWRAPD_STREAM_MAX_LIFETIME_MS',
    parse: int('streamMaxLifetimeMs', 0, 7 * 24 * 3600 * 1000),
  },
  {
    key: 'streamBufferBudgetBytes',
    flag: 'stream-buffer-budget-bytes',
    env: 'UNWRAPD_STREAM_BUFFER_BUDGET_BYTES',
    parse: int('streamBufferBudgetBytes', 64 * 1024, 2 ** 32),
  },
  {
    key: 'keepaliveTimeMs',
    flag: 'keepalive-time-ms',
    env: 'UNWRAPD_KEEPALIVE_TIME_MS',
    parse: int('keepaliveTimeMs', 1_000, 24 * 3600 * 1000),
  },
  {
    key: 'keepaliveTimeoutMs',
    flag: 'keepalive-timeout-ms',
    env: 'UNWRAPD_KEEPALIVE_TIMEOUT_MS',
    parse: int('keepaliveTimeoutMs', 100, 600_000),
  },
  {
    key: 'maxConnectionAgeMs',
    flag: 'max-connection-age-ms',
    env: 'UNWRAPD_MAX_CONNECTION_AGE_MS',
    parse: int('maxConnectionAgeMs', 0, 7 * 24 * 3600 * 1000),
  },
  {
    key: 'maxConnectionAgeGraceMs',
    flag: 'max-connection-age-grace-ms',
    env: 'UNWRAPD_MAX_CONNECTION_AGE_GRACE_MS',
    parse: int('maxConnectionAgeGraceMs', 0, 7 * 24 * 3600 * 1000),
  },
  {
    key: 'maxConnectionIdleMs',
    flag: 'max-connection-idle-ms',
    env: 'UNWRAPD_MAX_CONNECTION_IDLE_MS',
    parse: int('maxConnectionIdleMs', 0, 7 * 24 * 3600 * 1000),
  },
  {
    key: 'maxMetadataBytes',
    flag: 'max-metadata-bytes',
    env: 'UNWRAPD_MAX_METADATA_BYTES',
    parse: int('maxMetadataBytes', 1024, 1024 * 1024),
  },
  // --- split: shutdown steps ---
  {
    key: 'shutdownStepTimeoutMs',
    flag: 'shutdown-step-timeout-ms',
    env: 'UNWRAPD_SHUTDOWN_STEP_TIMEOUT_MS',
    parse: int('shutdownStepTimeoutMs', 1, 60_000),
  },
  // --- audit settings ---
  { key: 'auditShip', flag: 'audit-ship', env: 'UNWRAPD_AUDIT_SHIP', parse: str },
] as const satisfies readonly Setting<keyof Config>[];

// -- purge (per-policy availability keys) --
function keyBase(raw: string): string {
  if (!isKeyBase(raw))
    throw new ConfigError(
      `availabilityKeyBase must be a key base (local:, pkcs11:token=<label>, https://<vault>/keys/), got "${raw.slice(0, 100)}"`,
    );
  return raw;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const CONFIG_FLAGS: readonly string[] = [...SETTINGS.map((s) => s.flag), 'config'];

export function loadConfig(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv = process.env): Config {
  const file = readConfigFile(flags.config ?? env.UNWRAPD_CONFIG);
  const partial: Partial<Record<keyof Config, unknown>> = {};
  for (const s of SETTINGS) {
    const fromFlag = flags[s.flag];
    const fromEnv = env[s.env];
    const fromFile = file[s.key];
    let raw: string | undefined;
    if (fromFlag !== undefined) raw = fromFlag;
    else if (fromEnv !== undefined && fromEnv !== '') raw = fromEnv;
    else if (fromFile !== undefined)
      raw = s.key === 'socketMode' && typeof fromFile === 'number' ? fromFile.toString(8) : String(fromFile);
    if (raw !== undefined) partial[s.key] = (s.parse as (r: string) => unknown)(raw);
  }
  const dataDir = resolve((partial.dataDir as string | undefined) ?? '.unwrapd');
  const inData = (p: unknown, name: string) =>
    typeof p === 'string' ? (isAbsolute(p) ? p : resolve(p)) : join(dataDir, name);
  const config: Config = {
    dataDir,
    listen: (partial.listen as string | undefined) ?? `unix://${join(dataDir, 'unwrapd.sock')}`,
    keystorePath: inData(partial.keystorePath, 'keystore.json'),
    registryPath: inData(partial.registryPath, 'policies.json'),
    maxBlockBytes: (partial.maxBlockBytes as number | undefined) ?? 4 * 1024 * 1024,
    batchMaxItems: (partial.batchMaxItems as number | undefined) ?? 1024,
    batchMaxBytes: (partial.batchMaxBytes as number | undefined) ?? 4 * 1024 * 1024,
    streamSegmentBytes: (partial.streamSegmentBytes as number | undefined) ?? 64 * 1024,
    cacheMaxEntries: (partial.cacheMaxEntries as number | undefined) ?? 10_000,
    cacheMaxAgeMs: (partial.cacheMaxAgeMs as number | undefined) ?? 30 * 60 * 1000,
    providerTimeoutMs: (partial.providerTimeoutMs as number | undefined) ?? 10_000,
    shutdownTimeoutMs: (partial.shutdownTimeoutMs as number | undefined) ?? 10_000,
    maxPoliciesPerTenant: (partial.maxPoliciesPerTenant as number | undefined) ?? 50,
    socketMode: (partial.socketMode as number | undefined) ?? 0o660,
    // The demo is for the embedded default: in a fleet each instance would make its own local keys.
    demo: (partial.demo as boolean | undefined) ?? partial.registryBackend !== 'postgres',
    hedgeDelayMs: (partial.hedgeDelayMs as number | undefined) ?? 150,
    refreshAheadMs: (partial.refreshAheadMs as number | undefined) ?? 5 * 60 * 1000,
    refreshIntervalMs: (partial.refreshIntervalMs as number | undefined) ?? 30 * 1000,
    callerRoles: (partial.callerRoles as string | undefined) ?? 'user',
    auditLogPath: inData(partial.auditLogPath, 'audit.log'),
    registryBackend: (partial.registryBackend as 'file' | 'postgres' | undefined) ?? 'file',
    pgUrl: (partial.pgUrl as string | undefined) ?? '',
    pgSchema: (partial.pgSchema as string | undefined) ?? 'unwrapd',
    pgPoolMax: (partial.pgPoolMax as number | undefined) ?? 4,
    feedGraceMs: (partial.feedGraceMs as number | undefined) ?? 5_000,
    feedPollMs: (partial.feedPollMs as number | undefined) ?? 1_000,
    feedReconnectMinMs: (partial.feedReconnectMinMs as number | undefined) ?? 100,
    feedReconnectMaxMs: (partial.feedReconnectMaxMs as number | undefined) ?? 5_000,
    fleetAckWait: (partial.fleetAckWait as boolean | undefined) ?? true,
    eventGridListen: (partial.eventGridListen as string | undefined) ?? '',
    eventGridSecret: (partial.eventGridSecret as string | undefined) ?? '',
    eventGridMaxBodyBytes: (partial.eventGridMaxBodyBytes as number | undefined) ?? 1024 * 1024,
    azureCredential: (partial.azureCredential as AzureCredentialKind | undefined) ?? 'default',
    azureMaxRetries: (partial.azureMaxRetries as number | undefined) ?? 2,
    azureRetryDelayMs: (partial.azureRetryDelayMs as number | undefined) ?? 200,
    azureMaxRetryDelayMs: (partial.azureMaxRetryDelayMs as number | undefined) ?? 2_000,
    azureTryTimeoutMs: (partial.azureTryTimeoutMs as number | undefined) ?? 5_000,
    probeIntervalMs: (partial.probeIntervalMs as number | undefined) ?? 60_000,
    probeMaxCalls: (partial.probeMaxCalls as number | undefined) ?? 100,
    pkcs11Module: (partial.pkcs11Module as string | undefined) ?? '',
    pkcs11Token: (partial.pkcs11Token as string | undefined) ?? '',
    pkcs11PinFile: (partial.pkcs11PinFile as string | undefined) ?? '',
    logLevel: (partial.logLevel as LogLevel | undefined) ?? 'info',
    // transport security (issue 9)
    tlsCertFile: (partial.tlsCertFile as string | undefined) ?? '',
    tlsKeyFile: (partial.tlsKeyFile as string | undefined) ?? '',
    tlsClientCaFile: (partial.tlsClientCaFile as string | undefined) ?? '',
    allowInsecureTcp: (partial.allowInsecureTcp as boolean | undefined) ?? false,
    trustForwardedClientCert: (partial.trustForwardedClientCert as boolean | undefined) ?? false,
    // --- trust (issue 9) ---
    adminListen: (partial.adminListen as string | undefined) ?? `unix://${join(dataDir, 'admin.sock')}`,
    adminSocketRoles: (partial.adminSocketRoles as string | undefined) ?? 'admin,user,system',
    socketGroup: (partial.socketGroup as string | undefined) ?? '',
    authorizationFile: (partial.authorizationFile as string | undefined) ?? '',
    authorization: [],
    denialAuditPerMinute: (partial.denialAuditPerMinute as number | undefined) ?? 60,
    // -- purge (per-policy availability keys) --
    availabilityKeyBase: (partial.availabilityKeyBase as string | undefined) ?? 'local:',
    // ---- fleet (issue 10 item 6) ----
    fleetLeaseMs: (partial.fleetLeaseMs as number | undefined) ?? 10_000,
    fleetRenewMs: (partial.fleetRenewMs as number | undefined) ?? 2_000,
    fleetFenceMarginMs: (partial.fleetFenceMarginMs as number | undefined) ?? 2_000,
    deafServeUncached: (partial.deafServeUncached as boolean | undefined) ?? false,
    // --- header: authenticated stream header (segmented format v2) ---
    streamMaxSegmentBytes:
      (partial.streamMaxSegmentBytes as number | undefined) ??
      Math.max(1024 * 1024, (partial.streamSegmentBytes as number | undefined) ?? 64 * 1024),
    // --- streams: stream and connection bounds ---
    maxStreams: (partial.maxStreams as number | undefined) ?? 64,
    maxStreamsPerConnection: (partial.maxStreamsPerConnection as number | undefined) ?? 256,
    streamIdleTimeoutMs: (partial.streamIdleTimeoutMs as number | undefined) ?? 30_000,
    streamMaxLifetimeMs: (partial.streamMaxLifetimeMs as number | undefined) ?? 3_600_000,
    streamBufferBudgetBytes: (partial.streamBufferBudgetBytes as number | undefined) ?? 64 * 1024 * 1024,
    keepaliveTimeMs: (partial.keepaliveTimeMs as number | undefined) ?? 60_000,
    keepaliveTimeoutMs: (partial.keepaliveTimeoutMs as number | undefined) ?? 20_000,
    maxConnectionAgeMs: (partial.maxConnectionAgeMs as number | undefined) ?? 1_800_000,
    maxConnectionAgeGraceMs: (partial.maxConnectionAgeGraceMs as number | undefined) ?? 3_600_000,
    maxConnectionIdleMs: (partial.maxConnectionIdleMs as number | undefined) ?? 600_000,
    maxMetadataBytes: (partial.maxMetadataBytes as number | undefined) ?? 64 * 1024,
    // --- split: shutdown steps ---
    shutdownStepTimeoutMs: (partial.shutdownStepTimeoutMs as number | undefined) ?? 2_000,
    // --- audit settings ---
    auditShip: (partial.auditShip as string | undefined) ?? '',
  };
  validateListen(config.listen);
  validateTrust(config, file.authorization);
  validateFleet(config);
  // --- header: a daemon must read the envelopes it writes ---
  if (config.streamMaxSegmentBytes < config.streamSegmentBytes)
    throw new ConfigError(
      'streamMaxSegmentBytes must not be below streamSegmentBytes (the daemon must read the streams it writes)',
    );
  return config;
}

function readConfigFile(path: string | undefined): Record<string, unknown> {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`config file ${path} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  const known = new Set<string>(SETTINGS.map((s) => s.key));
  known.add('authorization'); // trust (issue 9): the table itself, a JSON array (not a string setting)
  for (const k of Object.keys(parsed))
    if (!known.has(k)) throw new ConfigError(`config file ${path}: unknown setting "${k}"`);
  return parsed as Record<string, unknown>;
}

/** The fleet settings hang together: a backend that needs a URL has one; a webhook has a secret. Messages never echo secrets. */
function validateFleet(c: Config): void {
  if (c.registryBackend === 'postgres' && !c.pgUrl)
    throw new ConfigError('registryBackend postgres needs pgUrl (UNWRAPD_PG_URL)');
  if (c.feedReconnectMaxMs < c.feedReconnectMinMs)
    throw new ConfigError('feedReconnectMaxMs must not be below feedReconnectMinMs');
  if (c.feedPollMs >= c.feedGraceMs)
    throw new ConfigError(
      'feedPollMs must be below feedGraceMs (the poll is the heartbeat the grace period is measured against)',
    );
  if (c.fleetLeaseMs - c.fleetFenceMarginMs < 2 * c.fleetRenewMs) {
    throw new ConfigError(
      'fleetLeaseMs minus fleetFenceMarginMs must leave room for two renewals (at least 2 x fleetRenewMs)',
    );
  }
  if (c.eventGridListen) {
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(c.eventGridListen))
      throw new ConfigError(`eventGridListen must be host:port, got "${c.eventGridListen}"`);
    if (c.eventGridSecret.length < 16)
      throw new ConfigError(
        'eventGridListen needs eventGridSecret (UNWRAPD_EVENT_GRID_SECRET) of at least 16 characters',
      );
  }
}

function validateListen(listen: string, name = 'listen'): void {
  if (listen.startsWith('unix://')) {
    const path = listen.slice('unix://'.length);
    if (!path.startsWith('/'))
      throw new ConfigError(`${name}: unix socket path must be absolute (unix:///path), got "${listen}"`);
    if (Buffer.byteLength(path) > 107)
      throw new ConfigError(`${name}: unix socket path is longer than 107 bytes: ${path}`);
    return;
  }
  if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(listen)) {
    throw new ConfigError(`${name} must be unix:///path/to.sock or host:port, got "${listen}"`);
  }
}

/** trust (issue 9): the admin listener, the socket group, the authorization table (from the file or a setting, not both). */
function validateTrust(c: Config, inline: unknown): void {
  validateListen(c.adminListen, 'adminListen');
  if (c.adminListen === c.listen)
    throw new ConfigError('adminListen must differ from listen: the Admin service never shares the data listener');
  if (c.socketGroup) resolveGroup(c.socketGroup);
  if (inline !== undefined && c.authorizationFile)
    throw new ConfigError(
      'set the authorization table either in the config file ("authorization") or in authorizationFile, not both',
    );
  try {
    if (inline !== undefined) c.authorization = parseAuthorizationTable(inline, 'authorization');
    else if (c.authorizationFile) {
      let text: string;
      try {
        text = readFileSync(c.authorizationFile, 'utf8');
      } catch (err) {
        throw new Error(
          `cannot read authorizationFile ${c.authorizationFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        );
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new Error(`authorizationFile ${c.authorizationFile} is not valid JSON`);
      }
      c.authorization = parseAuthorizationTable(parsed, `authorizationFile ${c.authorizationFile}`);
    }
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** A group name (looked up in /etc/group) or a numeric gid. */
export function resolveGroup(group: string, groupFile = '/etc/group'): number {
  if (/^\d{1,10}$/.test(group)) return Number(group);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    // No group file: only numeric gids.
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new ConfigError(`socketGroup: no group named "${group}" (give a name from ${groupFile} or a numeric gid)`);
}
