/**
 * The telemetry seam: what the daemon's parts report (metrics, traces), as one-line hooks. Two
 * implementations: `noopTelemetry` (telemetry off: every hook returns at once, nothing is allocated) and the
 * OpenTelemetry one (src/telemetry/otel-telemetry.ts). docs/telemetry.md lists the metrics and spans.
 *
 * Every label value passed here is bounded by construction: method names, gRPC status names, provider
 * names, outcome classes, eviction reasons, source names, feed states. Never error text, key ids, payloads.
 */

/** A provider call's outcome class (src/providers/instrumented-provider.ts maps failures to it). */
export type ProviderOutcome = 'ok' | 'unavailable' | 'timeout' | 'revoked' | 'not_found' | 'aborted' | 'error';

/**
 * Why a cached key left the cache: its age, the size bound, a newer key in its place (refresh), its policy's
 * keys dropped (revoke, purge, an operator's evict), or the whole cache cleared (shutdown, feed deaf).
 */
export type EvictionReason = 'expired' | 'capacity' | 'replaced' | 'policy' | 'cleared';

/** The revocation feed's state, as src/revocation/revocation-source.ts names it. */
export type FeedState = 'none' | 'connected' | 'disconnected' | 'deaf';
export const FEED_STATES: readonly FeedState[] = ['none', 'connected', 'disconnected', 'deaf'];

/** Reads one incoming metadata value (W3C trace context: `traceparent`, `tracestate`). */
export type TraceHeaders = (name: string) => string | undefined;

/** One RPC being served. */
export interface RpcScope {
  /** Runs `fn` (the handler) inside the RPC's trace context when it is sampled; else just runs it. */
  run<T>(fn: () => T): T;
  /** The call ended with `code` (a gRPC status name, e.g. OK, UNAVAILABLE); payload bytes in and out. */
  end(code: string, bytesIn: number, bytesOut: number): void;
}

/** What the metrics read when scraped (no hook on the hot path). */
export interface ObservedState {
  cache?: () => { entries: number; hits: number; misses: number };
  /** The worst state of the revocation sources. */
  feedState?: () => FeedState;
}

export interface Telemetry {
  /** False for the no-op implementation. */
  readonly enabled: boolean;
  /** Starts an RPC: its duration histogram, its span (sampled), bytes processed. */
  rpc(service: string, method: string, headers: TraceHeaders | undefined): RpcScope;
  /** A child span of the current (sampled) RPC around `fn`: none when no sampled RPC is current. */
  span<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** A root-key provider call: counted and timed by provider, operation and outcome; a child span. */
  providerCall<T>(
    provider: string,
    operation: string,
    fn: () => Promise<T>,
    outcome: (err: unknown, value: T | undefined) => ProviderOutcome,
  ): Promise<T>;
  /** A call refused at the wire (request limits, malformed bytes) before any handler: by method and status name. */
  refused(method: string, code: string): void;
  /** A second customer key asked because the first had not answered in time. */
  hedge(provider: string): void;
  /** A key unwrapped through the availability key (labelled by tenant only when configured). */
  availabilityKeyUse(tenant: string): void;
  /** A revocation applied (keys evicted) on the word of `source`. */
  revocationApplied(source: string): void;
  cacheEviction(reason: EvictionReason): void;
  /** How long after it was written an event of the revocation feed was applied here. */
  feedLag(seconds: number): void;
  /** A stream (EncryptStream, DecryptStream) or a batch opened (+1) or ended (-1). */
  inFlight(kind: 'streams' | 'batches', delta: number): void;
  /** Payload bytes of a streaming call, as they pass. */
  bytes(method: string, direction: 'in' | 'out', n: number): void;
  /** Registers what the metrics read at scrape time. */
  observe(state: ObservedState): void;
  /** The Prometheus text exposition of every metric; undefined when metrics are off. */
  prometheus(): Promise<string> | undefined;
  /** Flushes and stops the exporters (bounded by the caller). */
  shutdown(): Promise<void>;
}

const NOOP_SCOPE: RpcScope = {
  run: (fn) => fn(),
  end: () => {},
};

/** Telemetry off: every hook is a call that returns at once. */
export const noopTelemetry: Telemetry = {
  enabled: false,
  rpc: () => NOOP_SCOPE,
  span: (_name, fn) => fn(),
  providerCall: (_p, _o, fn) => fn(),
  refused: () => {},
  hedge: () => {},
  availabilityKeyUse: () => {},
  revocationApplied: () => {},
  cacheEviction: () => {},
  feedLag: () => {},
  inFlight: () => {},
  bytes: () => {},
  observe: () => {},
  prometheus: () => undefined,
  shutdown: async () => {},
};
