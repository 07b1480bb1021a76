import type * as grpc from '@grpc/grpc-js';
import type { AuditTrail } from '../audit/audit-log.js';
import type { DenialAudit } from '../auth/denial-audit.js';
import type { KeyCache } from '../cache/key-cache.js';
import type { RefreshAhead } from '../cache/refresh-ahead.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import type { BatchService } from '../core/batch-service.js';
import type { CryptoService } from '../core/crypto-service.js';
import type { KeyUnwrapper } from '../core/key-unwrapper.js';
import type { LifecycleService } from '../core/lifecycle-service.js';
import type { PolicyService } from '../core/policy-service.js';
import type { StatusReporter } from '../core/status-reporter.js';
import type { StreamService } from '../core/stream-service.js';
import type { Logger } from '../log/logger.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { ProviderProbe } from '../revocation/provider-probe.js';
import type { RevocationSource } from '../revocation/revocation-source.js';
import type { ServingFence } from '../revocation/serving-fence.js';
import type { IdentitySource } from '../server/caller-resolver.js';
import type { StreamLimits } from '../server/stream-limits.js';
import type { TelemetryHooks } from '../telemetry/create-telemetry.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { RevocationSources } from './revocation-sources.js';

/** What startDaemon (src/daemon/daemon.ts) takes besides the config, and the daemon it returns. */
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
  fleet: RevocationSources;
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
