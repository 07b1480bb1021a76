import { setting } from './setting.js';
import { boolean, connectionString, integer, oneOf, optionalHostPort, schemaName, text } from './setting-type.js';

const MiB = 1024 * 1024;

/**
 * A fleet on the PostgreSQL registry (change feed, leases, acknowledgements) and the Event Grid webhook.
 * To add a setting: see src/config/settings.ts.
 */
export const FLEET_SETTINGS = [
  setting({
    key: 'registryBackend',
    flag: 'registry-backend',
    env: 'UNWRAPD_REGISTRY_BACKEND',
    type: oneOf(['file', 'postgres']),
    default: 'file',
    summary: 'where policies live: file or postgres',
    description:
      "where policies live: `file` (`registryPath`, one node) or `postgres` (a fleet sharing one registry and its change feed; [fleet.md](fleet.md)). Named so because `--registry` is the file registry's path",
    group: 'fleet',
  }),
  setting({
    key: 'pgUrl',
    flag: 'pg-url',
    env: 'UNWRAPD_PG_URL',
    type: connectionString,
    default: '',
    defaultText: '(none; required with `postgres`)',
    summary: 'PostgreSQL connection URL (postgres backend)',
    description:
      'libpq connection URL, e.g. `postgres://unwrapd@db:5432/unwrapd?sslmode=verify-full`. Never logged with its password (logs and `GetStatus` show `postgres://user@host:port/db`); prefer `PGPASSWORD` or a password-less method over a password in the URL',
    secret: true,
    group: 'fleet',
  }),
  setting({
    key: 'pgSchema',
    flag: 'pg-schema',
    env: 'UNWRAPD_PG_SCHEMA',
    type: schemaName,
    default: 'unwrapd',
    summary: "schema of unwrapd's tables",
    description:
      "schema of unwrapd's tables, created and migrated at start (a-z 0-9 _, not `pg_`); several fleets may share a database under different schemas",
    group: 'fleet',
  }),
  setting({
    key: 'pgPoolMax',
    flag: 'pg-pool-max',
    env: 'UNWRAPD_PG_POOL_MAX',
    type: integer(1, 100),
    default: 4,
    summary: 'connections for writes and event replays',
    description: 'connections for writes and event replays; the change feed holds one more',
    group: 'fleet',
  }),
  setting({
    key: 'feedGraceMs',
    flag: 'feed-grace-ms',
    env: 'UNWRAPD_FEED_GRACE_MS',
    type: integer(100, 600_000),
    default: 5_000,
    summary: 'cut off from the change feed longer than this: deaf',
    description:
      'cut off from the change feed (or silent) longer than this, the instance is **deaf**: it refuses every Crypto call (UNAVAILABLE "revocation feed lost") and clears its cache until it has reconnected, caught up and renewed its lease ([fleet.md](fleet.md)); with `deafServeUncached` it serves fresh unwraps only instead',
    group: 'fleet',
  }),
  setting({
    key: 'feedPollMs',
    flag: 'feed-poll-ms',
    env: 'UNWRAPD_FEED_POLL_MS',
    type: integer(20, 60_000),
    default: 1_000,
    summary: "the change feed's safety-net poll and heartbeat",
    description: "the feed's safety-net poll of the event log (must be below `feedGraceMs`)",
    group: 'fleet',
  }),
  setting({
    key: 'feedReconnectMinMs',
    flag: 'feed-reconnect-min-ms',
    env: 'UNWRAPD_FEED_RECONNECT_MIN_MS',
    type: integer(10, 60_000),
    default: 100,
    summary: 'first reconnect delay of the change feed',
    description:
      "first delay of the feed's reconnect backoff: it doubles from this up to `feedReconnectMaxMs`, with jitter",
    group: 'fleet',
  }),
  setting({
    key: 'feedReconnectMaxMs',
    flag: 'feed-reconnect-max-ms',
    env: 'UNWRAPD_FEED_RECONNECT_MAX_MS',
    type: integer(10, 600_000),
    default: 5_000,
    summary: 'cap on the reconnect delay of the change feed',
    description: "cap of the feed's reconnect backoff (not below `feedReconnectMinMs`)",
    group: 'fleet',
  }),
  setting({
    key: 'fleetAckWait',
    flag: 'fleet-ack-wait',
    env: 'UNWRAPD_FLEET_ACK_WAIT',
    type: boolean,
    default: true,
    summary: 'acknowledge a revoke once every live instance applied it',
    description:
      "a revoke, purge or raised minimum decryption version is acknowledged only once every instance with a live lease has applied it, or its lease has expired; bounded by the caller's deadline and twice `fleetLeaseMs` (then the call fails, never OK, while the change stays in force). `false` acknowledges at commit (the benchmark's phase B)",
    group: 'fleet',
  }),
  setting({
    key: 'fleetLeaseMs',
    flag: 'fleet-lease-ms',
    env: 'UNWRAPD_FLEET_LEASE_MS',
    type: integer(300, 600_000),
    default: 10_000,
    summary: "an instance's lease in the registry",
    description:
      'an instance\'s lease in the PostgreSQL registry, judged by the database clock: a writer waits for every instance holding one; a crashed instance holds acknowledgements up for at most this long ([fleet.md](fleet.md), "Leases")',
    group: 'fleet',
  }),
  setting({
    key: 'fleetRenewMs',
    flag: 'fleet-renew-ms',
    env: 'UNWRAPD_FLEET_RENEW_MS',
    type: integer(20, 300_000),
    default: 2_000,
    summary: 'how often an instance renews its lease',
    description: 'how often an instance renews its lease (right after reading the change feed)',
    group: 'fleet',
  }),
  setting({
    key: 'fleetFenceMarginMs',
    flag: 'fleet-fence-margin-ms',
    env: 'UNWRAPD_FLEET_FENCE_MARGIN_MS',
    type: integer(50, 300_000),
    default: 2_000,
    summary: 'refuse this long before an unrenewed lease runs out',
    description:
      'an instance that could not renew refuses everything this long before its lease runs out, by its own monotonic clock measured from the send time of its last renewal. `fleetLeaseMs - fleetFenceMarginMs` must be at least `2 x fleetRenewMs`',
    group: 'fleet',
  }),
  setting({
    key: 'deafServeUncached',
    flag: 'deaf-serve-uncached',
    env: 'UNWRAPD_DEAF_SERVE_UNCACHED',
    type: boolean,
    default: false,
    summary: 'deaf instances serve fresh unwraps instead of refusing',
    description:
      'opt-in: a deaf instance serves fresh unwraps (cache off) instead of refusing. **Risk:** a `Revoke` made elsewhere while it is deaf is not seen, and is acknowledged without it ([fleet.md](fleet.md))',
    group: 'fleet',
  }),
  setting({
    key: 'eventGridListen',
    flag: 'event-grid-listen',
    env: 'UNWRAPD_EVENT_GRID_LISTEN',
    type: optionalHostPort,
    default: '',
    defaultText: '(off)',
    summary: 'Event Grid webhook for Key Vault events: host:port',
    description:
      '`host:port` of the Event Grid webhook for Key Vault events (`POST`/`OPTIONS /eventgrid`); plain HTTP, to sit behind the ingress that terminates TLS',
    group: 'fleet',
  }),
  setting({
    key: 'eventGridSecret',
    flag: 'event-grid-secret',
    env: 'UNWRAPD_EVENT_GRID_SECRET',
    type: text,
    default: '',
    defaultText: '(none; required with the webhook, 16+ characters)',
    summary: 'shared secret Event Grid deliveries carry',
    description:
      "shared secret every delivery must carry, as `?code=` in the subscription's endpoint URL or the `X-Unwrapd-Secret` header; compared in constant time, never logged",
    secret: true,
    group: 'fleet',
  }),
  setting({
    key: 'eventGridMaxBodyBytes',
    flag: 'event-grid-max-body-bytes',
    env: 'UNWRAPD_EVENT_GRID_MAX_BODY_BYTES',
    type: integer(1024, 16 * MiB),
    default: MiB,
    summary: 'largest request body the webhook accepts',
    description: "larger deliveries get 413 unread (Event Grid's own batch limit is 1 MB)",
    group: 'fleet',
  }),
] as const;
