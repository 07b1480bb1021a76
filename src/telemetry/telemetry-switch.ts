import type { TelemetryHooks } from './create-telemetry.js';

/**
 * Whether telemetry is on (src/telemetry/create-telemetry.ts): the metrics endpoint is set, an OTLP endpoint
 * is set (OTEL_EXPORTER_OTLP_ENDPOINT, or its _METRICS_ / _TRACES_ variants), or the embedding code gives
 * exporters, readers or processors; never with OTEL_SDK_DISABLED=true. This file loads no OpenTelemetry code,
 * so a daemon with telemetry off decides so without loading the SDK and its exporters.
 */
export function telemetryEnabled(metricsListen: string, env: NodeJS.ProcessEnv, hooks: TelemetryHooks = {}): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return (
    metricsListen !== '' ||
    Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT) ||
    Boolean(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) ||
    Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ||
    (hooks.metricReaders?.length ?? 0) > 0 ||
    (hooks.spanExporters?.length ?? 0) > 0 ||
    (hooks.spanProcessors?.length ?? 0) > 0
  );
}
