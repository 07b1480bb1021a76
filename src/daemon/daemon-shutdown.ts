import type { AuditTrail } from '../audit/audit-log.js';
import type { AuditShipper } from '../audit/audit-shipper.js';
import type { DenialAudit } from '../auth/denial-audit.js';
import type { KeyCache } from '../cache/key-cache.js';
import type { RefreshAhead } from '../cache/refresh-ahead.js';
import type { Config } from '../config/config.js';
import type { StatusReporter } from '../core/status-reporter.js';
import type { Logger } from '../log/logger.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { ProviderProbe } from '../revocation/provider-probe.js';
import type { RunningServer } from '../server/grpc-server.js';
import type { MetricsServer } from '../telemetry/metrics-server.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { RevocationSources } from './revocation-sources.js';
import { runShutdownSteps } from './shutdown-steps.js';

/** Everything the daemon's shutdown stops, closes or zeroizes. */
export interface ShutdownParts {
  config: Config;
  log: Logger;
  status: StatusReporter;
  refresher: RefreshAhead;
  fleet: RevocationSources;
  probe: ProviderProbe;
  /** The data and admin listeners. */
  servers: RunningServer[];
  denials: DenialAudit;
  metrics: MetricsServer | undefined;
  telemetry: Telemetry;
  cache: KeyCache;
  audit: AuditTrail;
  shipper: AuditShipper | undefined;
  registry: PolicyRegistry;
  provider: RootKeyProvider;
}

/**
 * The daemon's shutdown, in order: stop serving, stop the revocation sources and the probe, drain the
 * listeners (bounded by shutdownTimeoutMs), flush the denial audit, stop telemetry, zeroize the key cache
 * (always, whatever happened before), close the audit trail, the registry and the providers. Each step is
 * guarded and bounded (src/daemon/shutdown-steps.ts): a step that throws or hangs is logged and the next runs.
 */
export async function shutdownDaemon(p: ShutdownParts): Promise<{ drained: boolean }> {
  const { config, log } = p;
  let drained = false;
  let zeroized = 0;
  const step = config.shutdownStepTimeoutMs;
  const outcome = await runShutdownSteps(
    [
      {
        name: 'stop serving',
        run: () => {
          p.status.serving = false;
          p.refresher.stop();
        },
      },
      // Ends WatchEvents streams and stops the revocation sources (before the servers drain).
      { name: 'close the fleet', run: () => p.fleet.close() },
      { name: 'stop the key probe', run: () => p.probe.stop() },
      {
        name: 'drain the listeners',
        // The servers cancel what is left at shutdownTimeoutMs; one more step for them to go.
        timeoutMs: config.shutdownTimeoutMs + step,
        run: async () => {
          const results = await Promise.all(p.servers.map((s) => s.shutdown(config.shutdownTimeoutMs)));
          drained = results.every((r) => r.drained);
        },
      },
      { name: 'flush the denial audit', run: () => p.denials.flush() },
      { name: 'stop telemetry', run: () => Promise.all([p.metrics?.close(), p.telemetry.shutdown()]) },
      {
        name: 'zeroize the key cache',
        always: true,
        run: () => {
          zeroized = p.cache.clear();
        },
      },
      { name: 'close the audit log', run: async () => (await p.audit.close(), await p.shipper?.close()) },
      { name: 'close the registry', run: () => p.registry.close() },
      { name: 'close the providers', run: () => p.provider.close() },
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
}
