import type { KeyCache } from '../cache/key-cache.js';
import type { Config } from '../config/config.js';
import type { StatusReporter } from '../core/status-reporter.js';
import type { RevocationSource } from '../revocation/revocation-source.js';
import type { ServingFence } from '../revocation/serving-fence.js';
import type { TelemetryHooks } from '../telemetry/create-telemetry.js';
import { startMetricsServer, type MetricsServer, type Readiness } from '../telemetry/metrics-server.js';
import { telemetryEnabled } from '../telemetry/telemetry-switch.js';
import { noopTelemetry, type FeedState, type Telemetry } from '../telemetry/telemetry.js';
import { VERSION } from '../version.js';

/**
 * The daemon's telemetry from its settings (src/telemetry/create-telemetry.ts: off unless configured). Off,
 * the OpenTelemetry SDK and its exporters are not loaded.
 */
export async function daemonTelemetry(
  config: Config,
  hooks: TelemetryHooks | undefined,
  env = process.env,
): Promise<Telemetry> {
  if (!telemetryEnabled(config.metricsListen, env, hooks)) return noopTelemetry;
  const { createTelemetry } = await import('../telemetry/create-telemetry.js');
  return createTelemetry(
    {
      metricsListen: config.metricsListen,
      traceSampleRatio: config.traceSampleRatio,
      metricsTenantLabels: config.metricsTenantLabels,
      serviceName: config.serviceName,
      version: VERSION,
    },
    env,
    hooks,
  );
}

const SEVERITY: Record<FeedState, number> = { none: 0, connected: 1, disconnected: 2, deaf: 3 };

/** The worst state of the revocation sources; `none` without any. */
export function feedStateOf(sources: readonly RevocationSource[]): FeedState {
  let worst: FeedState = 'none';
  for (const s of sources) {
    const state = s.state().state;
    if (SEVERITY[state] > SEVERITY[worst]) worst = state;
  }
  return worst;
}

export interface EndpointDeps {
  config: Config;
  telemetry: Telemetry;
  cache: KeyCache;
  status: StatusReporter;
  sources: readonly RevocationSource[];
  fence: ServingFence;
}

/**
 * What the metrics read at scrape time, and the HTTP endpoint when `metricsListen` is set: ready once the
 * daemon serves (registry open, both gRPC listeners up; not while shutting down), its feed is not deaf
 * and the fence does not refuse.
 */
export async function startTelemetryEndpoint(deps: EndpointDeps): Promise<MetricsServer | undefined> {
  const { telemetry, cache, sources } = deps;
  telemetry.observe({ cache: () => cache.stats(), feedState: () => feedStateOf(sources) });
  if (!deps.config.metricsListen) return undefined;
  const readiness = (): Readiness => {
    if (!deps.status.serving) return { ready: false, reason: 'not serving (starting or stopping)' };
    if (feedStateOf(sources) === 'deaf') return { ready: false, reason: 'revocation feed deaf' };
    const fenced = deps.fence.reason();
    if (fenced) return { ready: false, reason: fenced };
    return { ready: true };
  };
  return startMetricsServer({ listen: deps.config.metricsListen, telemetry, readiness });
}
