import type * as grpc from '@grpc/grpc-js';
import type { ServerHttp2Session } from 'node:http2';
import type { Config } from '../config/config.js';
import { HTTP2_DEFAULT_WINDOW_BYTES } from '../config/settings-streams.js';

/**
 * Bounds on each connection of a listener (docs/configuration.md, "Streams and connections"): the settings
 * of these names, documented where they are declared (src/config/settings-streams.ts). grpc-js applies the first ones
 * as channel options (its server honours exactly these: SETTINGS_MAX_CONCURRENT_STREAMS, keepalive pings,
 * connection age with a grace period, connection idleness); the header list size and the receive windows are
 * HTTP/2 settings grpc-js has no server option for (applyHttp2Settings).
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
  | 'http2StreamWindowBytes'
  | 'http2ConnectionWindowBytes'
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
 * Adds HTTP/2 settings grpc-js has no channel option for to the options it creates its HTTP/2 servers with:
 * the header list size, and the receive windows (applyReceiveWindows). Not a public API: if a grpc-js upgrade
 * moves it, the daemon refuses to start rather than run without the metadata bound (test/raw-grpc.test.ts
 * covers it).
 */
export function applyHttp2Settings(server: grpc.Server, c: ConnectionLimits): void {
  const common = commonOptionsOf(server);
  common.settings = { ...common.settings, maxHeaderListSize: c.maxMetadataBytes };
  applyReceiveWindows(server, c.http2StreamWindowBytes, c.http2ConnectionWindowBytes);
}

/**
 * Gives a grpc-js server's calls and connections these HTTP/2 receive windows (bytes). Each stream's window is
 * `SETTINGS_INITIAL_WINDOW_SIZE`, added to the options grpc-js creates its HTTP/2 servers with (its
 * `commonServerOptions`, read at bind time). The connection's window is no setting in HTTP/2 (a WINDOW_UPDATE
 * on stream 0): it is set on each new session of the HTTP/2 servers grpc-js creates (its `createHttp2Server`,
 * wrapped on this instance), before the session handles a frame. Neither is a public API: if a grpc-js upgrade
 * moves them, this throws (the daemon refuses to start) rather than run with windows other than configured
 * (test/stream-window.test.ts checks what a client is given). Call it before binding.
 */
export function applyReceiveWindows(
  server: grpc.Server,
  streamWindowBytes: number,
  connectionWindowBytes: number,
): void {
  const common = commonOptionsOf(server);
  common.settings = { ...common.settings, initialWindowSize: streamWindowBytes };
  if (connectionWindowBytes === HTTP2_DEFAULT_WINDOW_BYTES) return;
  const internals = server as unknown as { createHttp2Server?: (credentials: unknown) => SessionSource };
  const create = internals.createHttp2Server;
  if (typeof create !== 'function')
    throw new Error('grpc-js: cannot apply the HTTP/2 connection window (createHttp2Server not found)');
  internals.createHttp2Server = function (this: unknown, credentials: unknown) {
    const http2Server = create.call(this, credentials);
    http2Server.prependListener('session', (session: ServerHttp2Session) => {
      session.setLocalWindowSize(connectionWindowBytes);
    });
    return http2Server;
  };
}

function commonOptionsOf(server: grpc.Server): { settings?: Record<string, unknown> } {
  const common = (server as unknown as { commonServerOptions?: { settings?: Record<string, unknown> } })
    .commonServerOptions;
  if (typeof common !== 'object' || common === null)
    throw new Error('grpc-js: cannot apply HTTP/2 settings (commonServerOptions not found)');
  return common;
}

/** What this file needs of the HTTP/2 server (plain or TLS) grpc-js creates. */
interface SessionSource {
  prependListener(event: 'session', listener: (session: ServerHttp2Session) => void): unknown;
}
