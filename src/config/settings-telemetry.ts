import { setting } from './setting.js';
import { boolean, optionalListenPort, ratio, simpleName } from './setting-type.js';

/**
 * Telemetry: the HTTP endpoint (/metrics, /healthz, /readyz), trace sampling and metric labels
 * (docs/telemetry.md). The standard `OTEL_*` variables (OTLP exporters) are read by the OpenTelemetry SDK itself.
 * To add a setting: see src/config/settings.ts.
 */
export const TELEMETRY_SETTINGS = [
  setting({
    key: 'metricsListen',
    flag: 'metrics-listen',
    env: 'UNWRAPD_METRICS_LISTEN',
    type: optionalListenPort,
    default: '',
    defaultText: 'off',
    summary: 'HTTP endpoint for /metrics, /healthz and /readyz',
    description:
      '`host:port`, or a port alone for `127.0.0.1:port`; empty: no endpoint. Serves Prometheus text on `/metrics`, liveness on `/healthz`, readiness on `/readyz`',
    group: 'telemetry',
  }),
  setting({
    key: 'traceSampleRatio',
    flag: 'trace-sample-ratio',
    env: 'UNWRAPD_TRACE_SAMPLE_RATIO',
    type: ratio,
    default: 0.01,
    summary: 'share of root traces sampled',
    description:
      'parent-based: a caller whose `traceparent` is sampled is always followed; this ratio applies to calls without one',
    group: 'telemetry',
  }),
  setting({
    key: 'metricsTenantLabels',
    flag: 'metrics-tenant-labels',
    env: 'UNWRAPD_METRICS_TENANT_LABELS',
    type: boolean,
    default: false,
    summary: 'a tenant label on the metrics that can carry one',
    description:
      'adds `tenant` to `unwrapd_availability_key_uses_total`; off, tenants are never metric labels (cardinality)',
    group: 'telemetry',
  }),
  setting({
    key: 'serviceName',
    flag: 'service-name',
    env: 'UNWRAPD_SERVICE_NAME',
    type: simpleName,
    default: 'unwrapd',
    summary: 'service.name of the metrics and traces',
    description: 'the OpenTelemetry resource attribute `service.name`',
    group: 'telemetry',
  }),
];
