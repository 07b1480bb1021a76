import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import type { IdGenerator, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { OtelTelemetry } from './otel-telemetry.js';
import { telemetryEnabled } from './telemetry-switch.js';
import { noopTelemetry, type Telemetry } from './telemetry.js';

export interface TelemetrySettings {
  /** The /metrics endpoint's address; '' = no Prometheus endpoint. */
  metricsListen: string;
  traceSampleRatio: number;
  metricsTenantLabels: boolean;
  serviceName: string;
  version: string;
}

/** Exporters and readers given by the embedding code (tests: in-memory ones; the benchmark: a discarding one). */
export interface TelemetryHooks {
  spanExporters?: SpanExporter[];
  spanProcessors?: SpanProcessor[];
  metricReaders?: MetricReader[];
  idGenerator?: IdGenerator;
  /** The root sampling decision's random numbers in [0, 1) (tests: known ones). */
  random?: () => number;
}

/**
 * Telemetry as configured: off (the no-op, nothing loaded on the hot path) unless the metrics endpoint is
 * set, an OTLP endpoint is set (the standard OTEL_EXPORTER_OTLP_ENDPOINT, or its _METRICS_ / _TRACES_
 * variants, read by the OTLP exporters themselves), or the embedding code gives exporters.
 * OTEL_SDK_DISABLED=true turns it off whatever else is set (telemetry-switch.ts decides).
 */
export function createTelemetry(
  settings: TelemetrySettings,
  env: NodeJS.ProcessEnv,
  hooks: TelemetryHooks = {},
): Telemetry {
  if (!telemetryEnabled(settings.metricsListen, env, hooks)) return noopTelemetry;
  const otlpMetrics = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
  const otlpTraces = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const metricReaders = [
    ...(otlpMetrics ? [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() })] : []),
    ...(hooks.metricReaders ?? []),
  ];
  const spanExporters = [...(otlpTraces ? [new OTLPTraceExporter()] : []), ...(hooks.spanExporters ?? [])];
  const spanProcessors = hooks.spanProcessors ?? [];
  const prometheus = settings.metricsListen !== '';
  return new OtelTelemetry({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: settings.serviceName,
      [ATTR_SERVICE_VERSION]: settings.version,
    }),
    version: settings.version,
    prometheus,
    metricReaders,
    spanExporters,
    spanProcessors,
    ...(hooks.idGenerator ? { idGenerator: hooks.idGenerator } : {}),
    ...(hooks.random ? { random: hooks.random } : {}),
    traceSampleRatio: settings.traceSampleRatio,
    tenantLabels: settings.metricsTenantLabels,
  });
}
