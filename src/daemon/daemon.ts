import { mkdir } from 'node:fs/promises';
import { startAuditShipping } from '../audit/audit-shipper.js';
import { KeyCache } from '../cache/key-cache.js';
import { RefreshAhead } from '../cache/refresh-ahead.js';
import { systemClock } from '../clock.js';
import { resolveGroup, type Config } from '../config/config.js';
import { BatchService } from '../core/batch-service.js';
import { CryptoService } from '../core/crypto-service.js';
import { KeyUnwrapper } from '../core/key-unwrapper.js';
import { LifecycleService } from '../core/lifecycle-service.js';
import { PolicyService } from '../core/policy-service.js';
import { StatusReporter } from '../core/status-reporter.js';
import { StreamService } from '../core/stream-service.js';
import { MAX_ENVELOPE_OVERHEAD, type BlockSuite } from '../crypto/envelope-format.js';
import { errorField } from '../log/logger.js';
import { withProviderTelemetry } from '../providers/provider-telemetry.js';
import { ProviderProbe } from '../revocation/provider-probe.js';
import { RevocationGate } from '../revocation/revocation-gate.js';
import { ServingFence } from '../revocation/serving-fence.js';
import { adminHandlers } from '../server/admin-handlers.js';
import type { ConnectionLimits } from '../server/connection-options.js';
import { cryptoHandlers } from '../server/crypto-handlers.js';
import { startGrpcServer } from '../server/grpc-server.js';
import { DEFAULT_CLIENT_RECEIVE_BYTES, responsesOverClientDefault } from '../server/response-limits.js';
import { StreamLimits } from '../server/stream-limits.js';
import { serverCredentials } from '../server/transport-security.js';
import { VERSION } from '../version.js';
import { wireAccess } from './access-wiring.js';
import { createProviders } from './build-providers.js';
import { createAuditTrail } from './create-audit-trail.js';
import { createRegistryFromConfig } from './create-registry.js';
import { shutdownDaemon } from './daemon-shutdown.js';
import type { Daemon, DaemonOptions } from './daemon-types.js';
import { ensureDemo } from './demo.js';
import { maxMessageBytes } from './message-limits.js';
import { revocationApplier, startRevocationSources } from './revocation-sources.js';
import { daemonTelemetry, startTelemetryEndpoint } from './telemetry-wiring.js';
import { unwrapEvents } from './unwrap-events.js';

export type { Daemon, DaemonOptions } from './daemon-types.js';

/** The composition root: builds every part from the config and owns shutdown. */
export async function startDaemon(config: Config, opts: DaemonOptions): Promise<Daemon> {
  const log = opts.log;
  // Before anything opens: a listener that may not serve as configured stops the start (ConfigError, exit 2).
  const credentials = opts.transport?.data?.credentials ?? serverCredentials(config.listen, config, log);
  const adminCredentials = opts.transport?.admin?.credentials ?? serverCredentials(config.adminListen, config, log);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const telemetry = await daemonTelemetry(config, opts.telemetry);
  const provider = withProviderTelemetry(createProviders(config, opts), telemetry);
  const built = await createRegistryFromConfig(config, log);
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
    ...unwrapEvents(log, audit, availabilityUses),
  });
  const policies = new PolicyService({
    registry,
    provider,
    audit,
    providerTimeoutMs: config.providerTimeoutMs,
    availabilityKeyBase: config.availabilityKeyBase,
  });
  const gate = new RevocationGate();
  // Fail closed when deaf: filled by startRevocationSources with the fleet feed (src/daemon/revocation-sources.ts).
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
    writeSuite: config.envelopeWriteSuite as BlockSuite,
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
    streamWindowBytes: config.http2StreamWindowBytes, // the window applyHttp2Settings gives each stream
  });
  // Both listeners: keepalive, connection age and idleness, streams per connection, metadata size, receive windows.
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
  // Who may call, and what a refusal leaves behind (src/daemon/access-wiring.ts).
  const { access, denials, dataCallers, adminCallers } = wireAccess(config, audit, log, {
    data: opts.transport?.data?.identity,
    admin: opts.transport?.admin?.identity,
  });
  // The change feed (deaf: cache off), WatchEvents' event log, the Event Grid webhook: src/daemon/revocation-sources.ts.
  const endOpen = (tenant: string, policyId: string, reason: string) =>
    crypto.leases.endPolicy(tenant, policyId, reason);
  const fleet = await startRevocationSources({
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
  await probe.start(revocationApplier({ cache, endOpen, telemetry, log }));
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
  const onReflectionError = (err: unknown) =>
    log.error('server reflection is unavailable: reflection calls end with INTERNAL', { error: errorField(err) });
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
    onReflectionError,
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
      onReflectionError,
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
      stopping ??= shutdownDaemon({
        config,
        log,
        status,
        refresher,
        fleet,
        probe,
        servers: [server, adminServer],
        denials,
        metrics,
        telemetry,
        cache,
        audit,
        shipper,
        registry,
        provider,
      });
      return stopping;
    },
  };
}
