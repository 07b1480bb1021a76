import {
  context,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Histogram,
  type Meter,
  type Span,
} from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { Resource } from '@opentelemetry/resources';
import { MeterProvider, type MetricReader } from '@opentelemetry/sdk-metrics';
import type { IdGenerator, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-node';
import {
  FEED_STATES,
  type EvictionReason,
  type ObservedState,
  type ProviderOutcome,
  type RpcScope,
  type Telemetry,
  type TraceHeaders,
} from './telemetry.js';
import { Tracing } from './tracing.js';

export interface OtelTelemetryOptions {
  resource: Resource;
  version: string;
  /** Serve the Prometheus text (GET /metrics). */
  prometheus: boolean;
  /** More metric readers (OTLP: a periodic exporting reader; tests: an in-memory one). */
  metricReaders: MetricReader[];
  /** Traces: off when there is neither an exporter nor a processor. */
  spanExporters: SpanExporter[];
  spanProcessors?: SpanProcessor[];
  idGenerator?: IdGenerator;
  /** The root sampling decision's random numbers (tests). */
  random?: () => number;
  traceSampleRatio: number;
  /** A `tenant` label on availability-key uses. */
  tenantLabels: boolean;
}

/** The exposition as the exporter's own handler writes it, without the per-series scope labels. */
const SERIALIZER = new PrometheusSerializer('', false, undefined, false, true);

const SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Telemetry through the OpenTelemetry SDK. Cost on the hot path: counters are plain numbers read by
 * observable instruments when scraped or exported; the one synchronous record per call is the RPC duration
 * histogram (attribute sets cached); a span only for sampled calls (src/telemetry/tracing.ts).
 */
export class OtelTelemetry implements Telemetry {
  readonly enabled = true;
  readonly #meterProvider: MeterProvider;
  readonly #prometheus: PrometheusExporter | undefined;
  readonly #tracing: Tracing | undefined;
  readonly #tenantLabels: boolean;
  readonly #rpcDuration: Histogram;
  readonly #providerDuration: Histogram;
  readonly #attrs = new Map<string, Attributes>();
  readonly #rpcMethods = new Map<string, { codes: Map<string, Attributes>; bytes: { in: number; out: number } }>();
  readonly #bytes = new Map<string, { method: string; in: number; out: number }>();
  readonly #providerCalls = new Map<string, number>();
  readonly #hedges = new Map<string, number>();
  readonly #refused = new Map<string, { attrs: Attributes; n: number }>();
  readonly #availability = new Map<string, number>();
  readonly #revocations = new Map<string, number>();
  readonly #evictions = new Map<string, number>();
  #feedLag: number | undefined;
  #streams = 0;
  #batches = 0;
  #observed: ObservedState = {};

  constructor(opts: OtelTelemetryOptions) {
    this.#tenantLabels = opts.tenantLabels;
    this.#prometheus = opts.prometheus
      ? new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true })
      : undefined;
    this.#meterProvider = new MeterProvider({
      resource: opts.resource,
      readers: [...(this.#prometheus ? [this.#prometheus] : []), ...opts.metricReaders],
    });
    const traced = opts.spanExporters.length > 0 || (opts.spanProcessors?.length ?? 0) > 0;
    this.#tracing = traced
      ? new Tracing({
          resource: opts.resource,
          ratio: opts.traceSampleRatio,
          exporters: opts.spanExporters,
          ...(opts.spanProcessors ? { processors: opts.spanProcessors } : {}),
          ...(opts.idGenerator ? { idGenerator: opts.idGenerator } : {}),
          ...(opts.random ? { random: opts.random } : {}),
        })
      : undefined;
    const meter = this.#meterProvider.getMeter('unwrapd', opts.version);
    const seconds = { unit: 's', advice: { explicitBucketBoundaries: SECONDS } };
    this.#rpcDuration = meter.createHistogram('unwrapd_rpc_duration_seconds', {
      description: 'Duration of gRPC calls, by method and status code',
      ...seconds,
    });
    this.#providerDuration = meter.createHistogram('unwrapd_provider_duration_seconds', {
      description: 'Duration of root-key provider calls, by provider, operation and outcome',
      ...seconds,
    });
    this.#observables(meter, opts.version);
  }

  #observables(meter: Meter, version: string): void {
    const counter = (name: string, description: string, read: (add: (v: number, a?: Attributes) => void) => void) =>
      meter.createObservableCounter(name, { description }).addCallback((r) => read((v, a) => r.observe(v, a)));
    const gauge = (name: string, description: string, read: (add: (v: number, a?: Attributes) => void) => void) =>
      meter.createObservableGauge(name, { description }).addCallback((r) => read((v, a) => r.observe(v, a)));
    const byLabel = (map: Map<string, number>, label: string) => (add: (v: number, a?: Attributes) => void) => {
      for (const [k, v] of map) add(v, label === '' ? {} : { [label]: k });
    };
    counter('unwrapd_cache_hits_total', 'Key cache lookups served from the cache', (add) => {
      const s = this.#observed.cache?.();
      if (s) add(s.hits);
    });
    counter('unwrapd_cache_misses_total', 'Key cache lookups that had to unwrap', (add) => {
      const s = this.#observed.cache?.();
      if (s) add(s.misses);
    });
    gauge('unwrapd_cache_entries', 'Keys in the cache', (add) => {
      const s = this.#observed.cache?.();
      if (s) add(s.entries);
    });
    counter('unwrapd_cache_evictions_total', 'Keys that left the cache, by reason', byLabel(this.#evictions, 'reason'));
    counter('unwrapd_provider_calls_total', 'Root-key provider calls, by provider, operation and outcome', (add) => {
      for (const [k, v] of this.#providerCalls) add(v, this.#attrs.get(k));
    });
    counter('unwrapd_rpc_refused_total', 'Calls refused at the wire before any handler, by method and code', (add) => {
      for (const { attrs, n } of this.#refused.values()) add(n, attrs);
    });
    counter('unwrapd_provider_hedges_total', 'Second customer keys asked (hedges)', byLabel(this.#hedges, 'provider'));
    counter(
      'unwrapd_availability_key_uses_total',
      'Keys unwrapped through the availability key',
      byLabel(this.#availability, this.#tenantLabels ? 'tenant' : ''),
    );
    counter(
      'unwrapd_revocations_applied_total',
      'Revocations applied (keys evicted), by source',
      byLabel(this.#revocations, 'source'),
    );
    gauge('unwrapd_feed_state', 'The revocation feed state: 1 for the current one', (add) => {
      const current = this.#observed.feedState?.();
      if (current) for (const state of FEED_STATES) add(state === current ? 1 : 0, { state });
    });
    gauge('unwrapd_feed_lag_seconds', 'From an event written to the revocation feed to its applying here', (add) => {
      if (this.#feedLag !== undefined) add(this.#feedLag);
    });
    gauge('unwrapd_streams_in_flight', 'Streams open', (add) => add(this.#streams));
    gauge('unwrapd_batches_in_flight', 'Batches being processed', (add) => add(this.#batches));
    counter('unwrapd_bytes_processed_total', 'Payload bytes, by method and direction', (add) => {
      for (const b of this.#bytes.values()) {
        if (b.in === 0 && b.out === 0) continue;
        add(b.in, { method: b.method, direction: 'in' });
        add(b.out, { method: b.method, direction: 'out' });
      }
    });
    gauge('unwrapd_build_info', 'The running version', (add) => add(1, { version }));
  }

  /** A cached attribute set (the SDK keeps no reference to ours between records). */
  #attributes(key: string, make: () => Attributes): Attributes {
    let a = this.#attrs.get(key);
    if (!a) this.#attrs.set(key, (a = make()));
    return a;
  }

  #bytesOf(method: string) {
    let b = this.#bytes.get(method);
    if (!b) this.#bytes.set(method, (b = { method, in: 0, out: 0 }));
    return b;
  }

  rpc(service: string, method: string, headers: TraceHeaders | undefined): RpcScope {
    return new RpcCall(this.#finishRpc, method, this.#tracing?.startRpc(service, method, headers));
  }

  /** One RPC's end: the histogram (attribute sets cached per method and code), bytes, the span. */
  readonly #finishRpc = (call: RpcCall, code: string, bytesIn: number, bytesOut: number): void => {
    let m = this.#rpcMethods.get(call.method);
    if (!m) this.#rpcMethods.set(call.method, (m = { codes: new Map(), bytes: this.#bytesOf(call.method) }));
    let attrs = m.codes.get(code);
    if (!attrs) m.codes.set(code, (attrs = { method: call.method, code }));
    this.#rpcDuration.record((performance.now() - call.started) / 1000, attrs);
    m.bytes.in += bytesIn;
    m.bytes.out += bytesOut;
    const traced = call.traced;
    if (traced) {
      traced.span.setAttribute('rpc.grpc.status_code_name', code);
      if (code !== 'OK') traced.span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      this.#tracing!.endRpc(traced.span);
    }
  };

  span<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#tracing ? this.#tracing.child(name, fn) : fn();
  }

  providerCall<T>(
    provider: string,
    operation: string,
    fn: () => Promise<T>,
    outcome: (err: unknown, value: T | undefined) => ProviderOutcome,
  ): Promise<T> {
    const started = performance.now();
    const done = (err: unknown, value: T | undefined): ProviderOutcome => {
      const result = outcome(err, value);
      const key = `provider\u0000${provider}\u0000${operation}\u0000${result}`;
      const attrs = this.#attributes(key, () => ({ provider, operation, outcome: result }));
      this.#providerCalls.set(key, (this.#providerCalls.get(key) ?? 0) + 1);
      this.#providerDuration.record((performance.now() - started) / 1000, attrs);
      return result;
    };
    const attributes = { 'unwrapd.provider': provider, 'unwrapd.operation': operation };
    const after = (span: { setAttribute(k: string, v: string): unknown }, err: unknown, value: T | undefined) =>
      span.setAttribute('unwrapd.outcome', done(err, value));
    if (this.#tracing) {
      let recorded = false;
      return this.#tracing
        .child(`provider ${operation}`, fn, attributes, (span, err, value) => {
          recorded = true;
          after(span, err, value);
        })
        .then(
          (value) => {
            if (!recorded) done(undefined, value);
            return value;
          },
          (err: unknown) => {
            if (!recorded) done(err, undefined);
            throw err;
          },
        );
    }
    return fn().then(
      (value) => {
        done(undefined, value);
        return value;
      },
      (err: unknown) => {
        done(err, undefined);
        throw err;
      },
    );
  }

  refused(method: string, code: string): void {
    const key = `${method} ${code}`;
    const entry = this.#refused.get(key);
    if (entry) entry.n++;
    else this.#refused.set(key, { attrs: { method, code }, n: 1 });
  }

  hedge(provider: string): void {
    this.#hedges.set(provider, (this.#hedges.get(provider) ?? 0) + 1);
  }

  availabilityKeyUse(tenant: string): void {
    const key = this.#tenantLabels ? tenant : '';
    this.#availability.set(key, (this.#availability.get(key) ?? 0) + 1);
  }

  revocationApplied(source: string): void {
    this.#revocations.set(source, (this.#revocations.get(source) ?? 0) + 1);
  }

  cacheEviction(reason: EvictionReason): void {
    this.#evictions.set(reason, (this.#evictions.get(reason) ?? 0) + 1);
  }

  feedLag(seconds: number): void {
    if (Number.isFinite(seconds)) this.#feedLag = Math.max(0, seconds);
  }

  inFlight(kind: 'streams' | 'batches', delta: number): void {
    if (kind === 'streams') this.#streams += delta;
    else this.#batches += delta;
  }

  bytes(method: string, direction: 'in' | 'out', n: number): void {
    this.#bytesOf(method)[direction] += n;
  }

  observe(state: ObservedState): void {
    this.#observed = { ...this.#observed, ...state };
  }

  prometheus(): Promise<string> | undefined {
    const exporter = this.#prometheus;
    if (!exporter) return undefined;
    return (async () => {
      const { resourceMetrics } = await exporter.collect();
      return SERIALIZER.serialize(resourceMetrics);
    })();
  }

  async shutdown(): Promise<void> {
    await Promise.allSettled([this.#meterProvider.shutdown(), this.#tracing?.shutdown()]);
  }
}

/** An RPC in flight (a class, not closures: one allocation per call). */
class RpcCall implements RpcScope {
  readonly started = performance.now();
  constructor(
    readonly finish: (call: RpcCall, code: string, bytesIn: number, bytesOut: number) => void,
    readonly method: string,
    readonly traced: { span: Span; ctx: Context } | undefined,
  ) {}
  run<T>(fn: () => T): T {
    return this.traced ? context.with(this.traced.ctx, fn) : fn();
  }
  end(code: string, bytesIn: number, bytesOut: number): void {
    this.finish(this, code, bytesIn, bytesOut);
  }
}
