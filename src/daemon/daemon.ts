import { mkdir } from 'node:fs/promises';
import type { AuditTrail } from '../audit/audit-log.js';
import { KeyCache } from '../cache/key-cache.js';
import { systemClock, type Clock } from '../clock.js';
import { RefreshAhead } from '../cache/refresh-ahead.js';
import type { Config } from '../config/config.js';
import { BatchService } from '../core/batch-service.js';
import { CryptoService } from '../core/crypto-service.js';
import { StreamService } from '../core/stream-service.js';
import { KeyUnwrapper } from '../core/key-unwrapper.js';
import { LifecycleService } from '../core/lifecycle-service.js';
import { PolicyService } from '../core/policy-service.js';
import { StatusReporter } from '../core/status-reporter.js';
import { MAX_ENVELOPE_OVERHEAD, TAG_LENGTH } from '../crypto/envelope-format.js';
import { MAX_SEGMENT_BYTES } from '../crypto/segmented-format.js';
import { errorField, type Logger } from '../log/logger.js';
import { requestFields } from '../log/request-context.js';
import { createBuiltInProviders } from './build-providers.js';
import { createProviderRouter } from '../providers/provider-router.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import { createRegistryFromConfig } from './create-registry.js';
import { createAuditTrail } from './create-audit-trail.js';
import { startAuditShipping } from '../audit/audit-shipper.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import { RevocationGate } from '../revocation/revocation-gate.js';
import { ServingFence } from '../revocation/serving-fence.js';
import { adminHandlers } from '../server/admin-handlers.js';
import { callerResolver, type IdentitySource } from '../server/caller-resolver.js';
import type { ConnectionLimits } from '../server/connection-options.js';
import { cryptoHandlers } from '../server/crypto-handlers.js';
import { startGrpcServer } from '../server/grpc-server.js';
import { DEFAULT_CLIENT_RECEIVE_BYTES, responsesOverClientDefault } from '../server/response-limits.js';
import { StreamLimits } from '../server/stream-limits.js';
import { serverCredentials } from '../server/transport-security.js';
import { listenerIdentity } from '../auth/peer-identity.js';
import { Access } from '../auth/access.js';
import { AuthorizationTable } from '../auth/authorization-table.js';
import { describeMissing, parseRoles } from '../auth/caller.js';
import { DenialAudit } from '../auth/denial-audit.js';
import { resolveGroup } from '../config/config.js';
import type * as grpc from '@grpc/grpc-js';
import { VERSION } from '../version.js';
import { ensureDemo } from './demo.js';
import { startFleet, type Fleet } from './fleet.js';
import { ProviderProbe } from '../revocation/provider-probe.js';
import type { RevocationSource } from '../revocation/revocation-source.js';
import { runShutdownSteps } from './shutdown-steps.js';
import { daemonTelemetry, startTelemetryEndpoint } from './telemetry-wiring.js';
import { withProviderTelemetry } from '../providers/provider-telemetry.js';
import type { TelemetryHooks } from '../telemetry/create-telemetry.js';
import type { Telemetry } from '../telemetry/telemetry.js';

export interface DaemonOptions {
  log: Logger;
  /** Wraps the root-key provider (tests count calls or inject latency and faults). */
  wrapProvider?: (provider: RootKeyProvider) => RootKeyProvider;
  /** Providers besides the built-in ones (tests: a Key Vault provider pointed at a local test server). */
  extraProviders?: RootKeyProvider[];
  /** Wraps the policy registry once it is built, before it opens (tests inject faults, e.g. in close). */
  wrapRegistry?: (registry: PolicyRegistry) => PolicyRegistry;
  /** Revocation sources besides the built-in ones, started and stopped with the fleet's (tests: fakes). */
  revocationSources?: RevocationSource[];
  /**
   * Transport security and caller identity per listener (TLS, mTLS, a mesh's forwarded identity). Default:
   * insecure, identity `unix:<socket path>` or `tcp:<peer>` (src/server/caller-resolver.ts).
   */
  transport?: {
    data?: { credentials?: grpc.ServerCredentials; identity?: IdentitySource };
    admin?: { credentials?: grpc.ServerCredentials; identity?: IdentitySource };
  };
  /** The clock the key cache's expiry and refresh ahead read (tests: one they advance by hand). */
  clock?: Clock;
  /** Span exporters and metric readers besides the configured ones (tests: in-memory ones). */
  telemetry?: TelemetryHooks;
}

export interface Daemon {
  /** The data listener (Crypto only). */
  address: string;
  /** The admin listener (Admin only). */
  adminAddress: string;
  /** Denials so far (counted whether or not the audit record was rate-limited away). */
  denials: DenialAudit;
  config: Config;
  cache: KeyCache;
  registry: PolicyRegistry;
  provider: RootKeyProvider;
  unwrapper: KeyUnwrapper;
  crypto: CryptoService;
  /** EncryptBatch / DecryptBatch (limits from the config). */
  batches: BatchService;
  /** EncryptStream / DecryptStream; `streams.stats()` shows open streams, live stream keys and bytes in flight. */
  streams: StreamService;
  /** The streams' bounds (open at once, idle, lifetime, shared buffer budget); `stats()` counts refusals. */
  streamLimits: StreamLimits;
  policies: PolicyService;
  lifecycle: LifecycleService;
  refresher: RefreshAhead;
  audit: AuditTrail;
  status: StatusReporter;
  /** The event log, the change feed and the Event Grid webhook. */
  fleet: Fleet;
  /** Refuses every Crypto call while the fleet feed is lost (src/revocation/serving-fence.ts). */
  fence: ServingFence;
  /** The periodic status probe of cached policies' customer keys (src/revocation/provider-probe.ts). */
  probe: ProviderProbe;
  createdDemo: boolean;
  /** Metrics and traces (src/telemetry/); the no-op one when off. */
  telemetry: Telemetry;
  /** The HTTP endpoint (/metrics, /healthz, /readyz) as bound, when metricsListen is set. */
  metricsAddress: string | undefined;
  /**
   * Runs once: stop accepting, drain in-flight calls (bounded), zeroize the cache, close registry and
   * providers. Each step is guarded and bounded (src/daemon/shutdown-steps.ts): a step that throws or hangs
   * is logged and the next runs; the cache is zeroized whatever happened before.
   */
  shutdown(): Promise<{ drained: boolean }>;
}

/** Headroom over a block for the envelope header and the other fields of a message. */
const MESSAGE_HEADROOM = 64 * 1024;

/**
 * The gRPC message limit: the largest of a block, a full batch (its bytes plus per-item envelope overhead
 * and fields) and the largest stream segment a DecryptStream may meet, plus headroom.
 */
function maxMessageBytes(config: Config): number {
  const batch = config.batchMaxBytes + config.batchMaxItems * BATCH_ITEM_ALLOWANCE;
  return Math.max(config.maxBlockBytes, batch, MAX_SEGMENT_BYTES + TAG_LENGTH) + MESSAGE_HEADROOM;
}

/** Per batch item: envelope overhead (241 at most) and the item's fields and framing, with room for a small context. */
const BATCH_ITEM_ALLOWANCE = 512;

/** The root-key providers, by URI scheme. */
function createProviders(config: Config, opts: DaemonOptions): RootKeyProvider {
  // Built-in: local keystore, Azure Key Vault, PKCS#11 when configured (src/daemon/build-providers.ts).
  // An extra provider replaces the built-in one serving the same scheme (tests: Key Vault on a local server).
  const extra = opts.extraProviders ?? [];
  const claimed = new Set(extra.flatMap((p) => p.schemes));
  const builtIn = createBuiltInProviders(config).filter((p) => !p.schemes.some((s) => claimed.has(s)));
  const providers: RootKeyProvider[] = [...builtIn, ...extra];
  const router = createProviderRouter(providers);
  return opts.wrapProvider ? opts.wrapProvider(router) : router;
}

/** The policy registry backend. */
function createRegistry(config: Config, log: Logger): PolicyRegistry {
  return createRegistryFromConfig(config, log);
}

/** The composition root: builds every part from the config and owns shutdown. */
export async function startDaemon(config: Config, opts: DaemonOptions): Promise<Daemon> {
  const log = opts.log;
  // Before anything opens: a listener that may not serve as configured stops the start (ConfigError, exit 2).
  const credentials = opts.transport?.data?.credentials ?? serverCredentials(config.listen, config, log);
  const adminCredentials = opts.transport?.admin?.credentials ?? serverCredentials(config.adminListen, config, log);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const telemetry = daemonTelemetry(config, opts.telemetry);
  const provider = withProviderTelemetry(createProviders(config, opts), telemetry);
  const built = createRegistry(config, log);
  const registry = opts.wrapRegistry ? opts.wrapRegistry(built) : built;
  await registry.open();
  const audit = await createAuditTrail(config, registry);
  const shipper = startAuditShipping(audit, config.auditShip); // JSON lines for log shippers (docs/audit.md)

  const clock = opts.clock ?? systemClock;
  const availabilityUses = new Map<string, number>(); // per tenant, since start (GetStatus)
  const cache = new KeyCache({ maxEntries: config.cacheMaxEntries, maxAgeMs: config.cacheMaxAgeMs, clock, telemetry });
  const unwrapper = new KeyUnwrapper({
    provider,
    providerTimeoutMs: config.providerTimeoutMs,
    hedgeDelayMs: config.hedgeDelayMs,
    telemetry,
    onProviderError: (err, policy, role, request) =>
      log.warn('root key failed to unwrap', {
        ...requestFields(request && { requestId: request.requestId, caller: request.actor, traceId: request.traceId }),
        tenant: policy.tenant,
        policy: policy.id,
        role,
        key_uri: err.keyUri,
        kind: err.kind,
        reason: err.reason,
        detail: err.message,
      }),
    onAvailabilityUse: async (use) => {
      await audit.append({
        type: 'availability_key.used',
        tenant: use.policy.tenant,
        policyId: use.policy.id,
        keyVersion: use.version,
        requestId: use.requestId,
        reason: use.reason,
        ...(use.actor ? { actor: use.actor } : {}),
        details: { policyRevision: use.policy.revision },
      });
      availabilityUses.set(use.policy.tenant, (availabilityUses.get(use.policy.tenant) ?? 0) + 1);
      log.warn('fallback to availability key', {
        ...requestFields({ requestId: use.requestId, caller: use.actor, traceId: use.traceId }),
        tenant: use.policy.tenant,
        policy: use.policy.id,
        version: use.version,
        reason: use.reason,
      });
    },
  });
  const policies = new PolicyService({
    registry,
    provider,
    audit,
    providerTimeoutMs: config.providerTimeoutMs,
    availabilityKeyBase: config.availabilityKeyBase,
  });
  const gate = new RevocationGate();
  // Fail closed when deaf: filled by startFleet with the fleet feed (src/daemon/fleet.ts).
  const fence = new ServingFence();
  const lifecycle = new LifecycleService({
    registry,
    provider,
    unwrapper,
    cache,
    audit,
    gate,
    providerTimeoutMs: config.providerTimeoutMs,
    availabilityKeyBase: config.availabilityKeyBase,
  });
  const crypto = new CryptoService({
    registry,
    cache,
    unwrapper,
    maxBlockBytes: config.maxBlockBytes,
    maxEnvelopeBytes: config.maxBlockBytes + MAX_ENVELOPE_OVERHEAD,
    gate,
    fence,
  });
  const batches = new BatchService(crypto, { maxItems: config.batchMaxItems, maxBytes: config.batchMaxBytes });
  const streams = new StreamService(crypto, {
    segmentBytes: config.streamSegmentBytes,
    maxSegmentBytes: config.streamMaxSegmentBytes,
  });
  const streamLimits = new StreamLimits({
    maxStreams: config.maxStreams,
    idleTimeoutMs: config.streamIdleTimeoutMs,
    maxLifetimeMs: config.streamMaxLifetimeMs,
    bufferBudgetBytes: config.streamBufferBudgetBytes,
  });
  // Both listeners: keepalive, connection age and idleness, streams per connection, metadata size.
  const connections: ConnectionLimits = config; // the settings of those names (src/server/connection-options.ts)
  // A policy that stops being usable (revoked or purged, here or by another process) loses its keys at once.
  registry.onChange((record) => {
    if (record.state !== 'revoked' && record.state !== 'purged') return;
    cache.evictPolicy(record.tenant, record.id);
    telemetry.revocationApplied('registry');
  });
  const refresher = new RefreshAhead({
    cache,
    registry,
    unwrapper,
    log,
    refreshAheadMs: Math.min(config.refreshAheadMs, Math.floor(config.cacheMaxAgeMs / 2)),
    intervalMs: config.refreshIntervalMs,
    providerTimeoutMs: config.providerTimeoutMs,
    now: () => clock.now(),
  });

  const createdDemo = config.demo ? await ensureDemo(config.keystorePath, registry, policies, log) : false;

  const status = new StatusReporter({
    version: VERSION,
    listen: config.listen,
    cache,
    unwrapper,
    registry,
    providerSchemes: provider.schemes,
    feeds: [],
    auditHead: () => audit.head(),
    refreshFailures: () => refresher.stats.failures,
  });
  // Who may call: the authorization table (identity -> roles, tenants, policies) over both listeners.
  // The admin listener's default roles are for its own 0600 Unix socket (the daemon's user) only: on TCP, a
  // caller the table does not name, or the table's `admin` entry, gets nothing (a data-plane certificate from
  // the same client CA must never be an admin).
  const adminDefaults = config.adminListen.startsWith('unix://') ? parseRoles(config.adminSocketRoles) : [];
  const table = new AuthorizationTable(config.authorization, {
    data: parseRoles(config.callerRoles),
    admin: adminDefaults,
  });
  const denials = new DenialAudit({
    perMinute: config.denialAuditPerMinute,
    write: (d) => {
      const details: Record<string, string | number> = { method: d.method, missing: d.missing };
      if (d.suppressed) details.suppressed = d.suppressed;
      log.warn(d.suppressed ? 'access denied (repeats suppressed)' : 'access denied', {
        ...requestFields({ requestId: d.requestId, caller: d.identity, traceId: d.traceId }),
        method: d.method,
        missing: d.missing,
        ...(d.suppressed ? { suppressed: d.suppressed } : {}),
      });
      audit
        .append({
          type: 'access.denied',
          tenant: d.tenant,
          policyId: d.policyId,
          actor: d.identity,
          requestId: d.requestId,
          details,
        })
        .catch((err: unknown) => log.error('audit of an access denial failed', { error: errorField(err) }));
    },
  });
  const access = new Access((e, tenant, policyId) =>
    denials.record({
      identity: e.caller,
      method: e.method,
      missing: describeMissing(e.missing),
      tenant,
      policyId,
      requestId: e.request?.requestId,
      traceId: e.request?.traceId,
    }),
  );
  const dataCallers = callerResolver(
    opts.transport?.data?.identity ?? listenerIdentity(config.listen, config, log),
    table,
    'data',
  );
  const adminCallers = callerResolver(
    opts.transport?.admin?.identity ?? listenerIdentity(config.adminListen, config, log),
    table,
    'admin',
  );
  // The change feed (deaf: cache off), WatchEvents' event log, the Event Grid webhook: src/daemon/fleet.ts.
  const endOpen = (tenant: string, policyId: string, reason: string) =>
    crypto.leases.endPolicy(tenant, policyId, reason);
  const fleet = await startFleet({
    config,
    registry,
    cache,
    provider,
    status,
    fence,
    endOpen,
    log,
    extraSources: opts.revocationSources ?? [],
    telemetry,
  });
  // Revocation at the vault: a periodic, rate-limited status probe of cached policies' customer keys.
  const probe = new ProviderProbe({
    cache,
    registry,
    provider,
    intervalMs: config.probeIntervalMs,
    maxCallsPerInterval: config.probeMaxCalls,
    callTimeoutMs: config.providerTimeoutMs,
    log,
  });
  await probe.start((e) => {
    const evicted = cache.evictPolicy(e.tenant, e.policyId);
    endOpen(e.tenant, e.policyId, e.reason);
    telemetry.revocationApplied(e.source);
    log.info('revocation applied', {
      tenant: e.tenant,
      policy: e.policyId,
      source: e.source,
      reason: e.reason,
      evicted,
    });
  });
  status.addFeed(probe);
  // Limits raised above the defaults can make responses larger than gRPC clients accept unless told otherwise.
  for (const over of responsesOverClientDefault(config))
    log.warn('responses may exceed the default receive limit of gRPC clients', {
      method: over.method,
      largest_response_bytes: over.bytes,
      client_default_bytes: DEFAULT_CLIENT_RECEIVE_BYTES,
    });
  // Two listeners: Crypto on the data listener (the socket the application shares), Admin on the admin
  // listener (a 0600 socket in the data directory by default). Neither serves the other's service.
  const server = await startGrpcServer({
    listen: config.listen,
    maxMessageBytes: maxMessageBytes(config),
    socketMode: config.socketMode,
    socketGid: config.socketGroup ? resolveGroup(config.socketGroup) : undefined,
    crypto: cryptoHandlers({ crypto, callers: dataCallers, access, batches, streams, streamLimits }, log),
    credentials,
    connections,
    requestLimits: config,
    telemetry,
  });
  let adminServer: Awaited<ReturnType<typeof startGrpcServer>>;
  try {
    adminServer = await startGrpcServer({
      listen: config.adminListen,
      maxMessageBytes: maxMessageBytes(config),
      socketMode: 0o600,
      admin: adminHandlers(
        {
          policies,
          lifecycle,
          status,
          callers: adminCallers,
          access,
          events: fleet.events,
          adminListen: config.adminListen,
          accessDenied: () => denials.denied,
          audit,
          availabilityUsesByTenant: () => availabilityUses,
        },
        log,
      ),
      credentials: adminCredentials,
      connections,
      requestLimits: config,
      telemetry,
    });
  } catch (err) {
    await server.shutdown(0);
    throw err;
  }
  // The feed's health shows on both listeners.
  fleet.attachHealth({
    setStatus: (service, st) => {
      server.health.setStatus(service, st);
      adminServer.health.setStatus(service, st);
    },
  });
  // /metrics, /healthz, /readyz when metricsListen is set (src/daemon/telemetry-wiring.ts).
  const metrics = await startTelemetryEndpoint({
    config,
    telemetry,
    cache,
    status,
    sources: fleet.sources,
    fence,
  }).catch(async (err: unknown) => {
    await Promise.all([server.shutdown(0), adminServer.shutdown(0)]);
    throw err;
  });
  refresher.start();
  status.serving = true;

  let stopping: Promise<{ drained: boolean }> | undefined;
  return {
    address: server.address,
    adminAddress: adminServer.address,
    denials,
    config,
    cache,
    registry,
    provider,
    unwrapper,
    crypto,
    batches,
    streams,
    streamLimits,
    policies,
    lifecycle,
    refresher,
    audit,
    status,
    fleet,
    fence,
    probe,
    createdDemo,
    telemetry,
    metricsAddress: metrics?.address,
    shutdown() {
      stopping ??= (async () => {
        let drained = false;
        let zeroized = 0;
        const step = config.shutdownStepTimeoutMs;
        const outcome = await runShutdownSteps(
          [
            {
              name: 'stop serving',
              run: () => {
                status.serving = false;
                refresher.stop();
              },
            },
            // Ends WatchEvents streams and stops the revocation sources (before the servers drain).
            { name: 'close the fleet', run: () => fleet.close() },
            { name: 'stop the key probe', run: () => probe.stop() },
            {
              name: 'drain the listeners',
              // The servers cancel what is left at shutdownTimeoutMs; one more step for them to go.
              timeoutMs: config.shutdownTimeoutMs + step,
              run: async () => {
                const [result, adminResult] = await Promise.all([
                  server.shutdown(config.shutdownTimeoutMs),
                  adminServer.shutdown(config.shutdownTimeoutMs),
                ]);
                drained = result.drained && adminResult.drained;
              },
            },
            { name: 'flush the denial audit', run: () => denials.flush() },
            { name: 'stop telemetry', run: () => Promise.all([metrics?.close(), telemetry.shutdown()]) },
            {
              name: 'zeroize the key cache',
              always: true,
              run: () => {
                zeroized = cache.clear();
              },
            },
            { name: 'close the audit log', run: async () => (await audit.close(), await shipper?.close()) },
            { name: 'close the registry', run: () => registry.close() },
            { name: 'close the providers', run: () => provider.close() },
          ],
          { stepTimeoutMs: step, deadlineMs: config.shutdownTimeoutMs + 4 * step, log },
        );
        log.info('stopped', {
          drained,
          zeroized_entries: zeroized,
          ...(outcome.failed.length + outcome.timedOut.length + outcome.skipped.length > 0
            ? { failed: outcome.failed, timed_out: outcome.timedOut, skipped: outcome.skipped }
            : {}),
        });
        return { drained };
      })();
      return stopping;
    },
  };
}
