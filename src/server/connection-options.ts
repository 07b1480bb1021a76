import type * as grpc from '@grpc/grpc-js';
import type { Config } from '../config/config.js';

/**
 * Bounds on each connection of a listener (docs/configuration.md, "Streams and connections"): the settings
 * of these names, documented where they are declared (src/config/settings-streams.ts). grpc-js applies the first ones
 * as channel options (its server honours exactly these: SETTINGS_MAX_CONCURRENT_STREAMS, keepalive pings,
 * connection age with a grace period, connection idleness); the header list size is an HTTP/2 setting grpc-js
 * has no option for (applyHttp2Settings).
 */
export type ConnectionLimits = Pick<
  Config,
  | 'maxStreamsPerConnection'
  | 'keepaliveTimeMs'
  | 'keepaliveTimeoutMs'
  | 'maxConnectionAgeMs'
  | 'maxConnectionAgeGraceMs'
  | 'maxConnectionIdleMs'
  | 'maxMetadataBytes'
>;

export function connectionOptions(c: ConnectionLimits): grpc.ServerOptions {
  return {
    'grpc.max_concurrent_streams': c.maxStreamsPerConnection,
    'grpc.keepalive_time_ms': c.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': c.keepaliveTimeoutMs,
    // 0 (off): grpc-js's own default, which is unlimited.
    ...(c.maxConnectionAgeMs > 0
      ? {
          'grpc.max_connection_age_ms': c.maxConnectionAgeMs,
          'grpc.max_connection_age_grace_ms': c.maxConnectionAgeGraceMs,
        }
      : {}),
    ...(c.maxConnectionIdleMs > 0 ? { 'grpc.max_connection_idle_ms': c.maxConnectionIdleMs } : {}),
  };
}

/**
 * Adds HTTP/2 settings grpc-js has no channel option for to the options it creates its HTTP/2 servers with
 * (its `commonServerOptions`, read at bind time). Not a public API: if a grpc-js upgrade moves it, the
 * daemon refuses to start rather than run without the metadata bound (test/raw-grpc.test.ts covers it).
 */
export function applyHttp2Settings(server: grpc.Server, c: ConnectionLimits): void {
  const common = (
    server as unknown as { commonServerOptions?: { settings?: Record<string, unknown>; maxHeaderListPairs?: number } }
  ).commonServerOptions;
  if (typeof common !== 'object' || common === null)
    throw new Error('grpc-js: cannot apply HTTP/2 settings (commonServerOptions not found)');
  common.settings = { ...common.settings, maxHeaderListSize: c.maxMetadataBytes };
}
