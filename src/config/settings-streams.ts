import { setting } from './setting.js';
import { integer } from './setting-type.js';

const MiB = 1024 * 1024;
/** HTTP/2's own default receive window (RFC 9113 §6.9.2), per stream and per connection: Node's, and grpc-js's. */
export const HTTP2_DEFAULT_WINDOW_BYTES = 65_535;
/** The largest `http2StreamWindowBytes`. */
export const HTTP2_MAX_STREAM_WINDOW_BYTES = 16 * MiB;
const DAY_MS = 24 * 3_600_000;
const WEEK_MS = 7 * DAY_MS;

/**
 * Bounds on streaming calls and on connections (src/server/stream-limits.ts, src/server/connection-options.ts).
 * To add a setting: see src/config/settings.ts.
 */
export const STREAM_SETTINGS = [
  setting({
    key: 'maxStreams',
    flag: 'max-streams',
    env: 'UNWRAPD_MAX_STREAMS',
    type: integer(1, 100_000),
    default: 64,
    summary: 'streams open at once on the data listener',
    description:
      '`EncryptStream` / `DecryptStream` calls open at once on the data listener, across all connections; one more is refused at once (`too many streams open: 64 (maxStreams)`)',
    group: 'streams',
  }),
  setting({
    key: 'maxStreamsPerConnection',
    flag: 'max-streams-per-connection',
    env: 'UNWRAPD_MAX_STREAMS_PER_CONNECTION',
    type: integer(1, 100_000),
    default: 256,
    summary: 'calls open at once on one connection',
    description:
      'HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`: calls of any kind open at once on one connection (clients queue beyond it). Both listeners',
    group: 'streams',
  }),
  setting({
    key: 'streamIdleTimeoutMs',
    flag: 'stream-idle-timeout-ms',
    env: 'UNWRAPD_STREAM_IDLE_TIMEOUT_MS',
    type: integer(0, DAY_MS),
    default: 30_000,
    summary: 'a stream waiting this long on its client ends; 0 = off',
    description:
      "a stream that waits this long on its client ends: no message from it, or no response taken by it (a client that stops reading). The server's own work (a key unwrap) does not count. 0 = off",
    group: 'streams',
  }),
  setting({
    key: 'streamMaxLifetimeMs',
    flag: 'stream-max-lifetime-ms',
    env: 'UNWRAPD_STREAM_MAX_LIFETIME_MS',
    type: integer(0, WEEK_MS),
    default: 3_600_000,
    summary: 'a stream open this long ends; 0 = off',
    description: 'a stream open this long ends, however busy. 0 = off',
    group: 'streams',
  }),
  setting({
    key: 'streamBufferBudgetBytes',
    flag: 'stream-buffer-budget-bytes',
    env: 'UNWRAPD_STREAM_BUFFER_BUDGET_BYTES',
    type: integer(64 * 1024, 2 ** 32),
    default: 64 * MiB,
    summary: 'one byte budget for all streams together',
    description:
      "ONE budget for all streams together: a fixed reservation per open stream for what the transport holds for it (two stream messages of at most 256 KiB + 64 KiB of fields, which grpc-js reads ahead of the handler, and the stream's HTTP/2 receive window `http2StreamWindowBytes`: 704 KiB with the default 64 KiB window, 1.6 MiB with a 1 MiB one; a stream whose reservation does not fit is refused at admission), the capacity of the stream's segment buffer, the message being processed, and its responses handed to the transport and not yet sent. The stream whose bytes would take the total over it ends. The defaults reserve 64 × 704 KiB = 44 MiB, leaving 20 MiB for segments (with a 1 MiB window, 64 streams would reserve 104 MiB: raise the budget with the window, or fewer streams are admitted). A busy stream holds up to about six segments with the default 64 KiB (a partial one, and up to four responses not yet sent before it waits: about 400 KiB), and about two segments with larger ones (8 MiB for a `DecryptStream` of 4 MiB segments): size it for the streams you expect to be busy at once",

    group: 'streams',
  }),
  setting({
    key: 'http2StreamWindowBytes',
    flag: 'http2-stream-window-bytes',
    env: 'UNWRAPD_HTTP2_STREAM_WINDOW_BYTES',
    type: integer(HTTP2_DEFAULT_WINDOW_BYTES, HTTP2_MAX_STREAM_WINDOW_BYTES),
    default: HTTP2_DEFAULT_WINDOW_BYTES,
    summary: "each call's HTTP/2 receive window; streams reserve it in the budget",
    description:
      'HTTP/2 `SETTINGS_INITIAL_WINDOW_SIZE`: the request bytes a client may send on one call ahead of the server taking them. A stream whose handler is not reading (its client not taking responses) still receives up to this much, so every open stream reserves it in `streamBufferBudgetBytes` (raise the budget with it). A larger window lets a client keep more of a stream in flight (more throughput on a high-latency or busy link); it does not change any receive limit. Raise it only for clients that keep their own receive window at HTTP/2\'s default: a Node.js (grpc-js) client that also raises its window (`grpc-node.flow_control_window`) can stall the connection, both ends writing and neither reading (measured: every call on it waited until its deadline; bench/README.md, "The HTTP/2 flow-control window"). Both listeners',
    group: 'streams',
  }),
  setting({
    key: 'http2ConnectionWindowBytes',
    flag: 'http2-connection-window-bytes',
    env: 'UNWRAPD_HTTP2_CONNECTION_WINDOW_BYTES',
    type: integer(HTTP2_DEFAULT_WINDOW_BYTES, 256 * MiB),
    default: HTTP2_DEFAULT_WINDOW_BYTES,
    summary: "each connection's HTTP/2 receive window; at least http2StreamWindowBytes",
    description:
      'the HTTP/2 receive window of a whole connection, shared by its calls (a WINDOW_UPDATE on stream 0 when the connection opens). The server credits it back as soon as bytes arrive (what a stream holds is bounded by `http2StreamWindowBytes`), so it costs no memory of its own; it caps the bytes in flight over one connection, so it must be at least `http2StreamWindowBytes` for a larger stream window to help. Both listeners',
    group: 'streams',
  }),
  setting({
    key: 'keepaliveTimeMs',
    flag: 'keepalive-time-ms',
    env: 'UNWRAPD_KEEPALIVE_TIME_MS',
    type: integer(1_000, DAY_MS),
    default: 60_000,
    summary: 'the server pings each connection this often',
    description: 'the server pings each connection this often',
    group: 'streams',
  }),
  setting({
    key: 'keepaliveTimeoutMs',
    flag: 'keepalive-timeout-ms',
    env: 'UNWRAPD_KEEPALIVE_TIMEOUT_MS',
    type: integer(100, 600_000),
    default: 20_000,
    summary: 'an unanswered ping closes the connection after this long',
    description: 'a ping not answered within this long closes the connection (a peer that vanished without closing)',
    group: 'streams',
  }),
  setting({
    key: 'maxConnectionAgeMs',
    flag: 'max-connection-age-ms',
    env: 'UNWRAPD_MAX_CONNECTION_AGE_MS',
    type: integer(0, WEEK_MS),
    default: 1_800_000,
    summary: 'a connection this old is sent GOAWAY; 0 = off',
    description: 'a connection this old is sent GOAWAY: clients reconnect for new calls. 0 = off',
    group: 'streams',
  }),
  setting({
    key: 'maxConnectionAgeGraceMs',
    flag: 'max-connection-age-grace-ms',
    env: 'UNWRAPD_MAX_CONNECTION_AGE_GRACE_MS',
    type: integer(0, WEEK_MS),
    default: 3_600_000,
    summary: 'time calls get to finish after GOAWAY for age',
    description:
      'calls still open on a connection past its age get this long to finish, then the connection is closed. Keep it at least `streamMaxLifetimeMs` so a stream ends by its own bound',
    group: 'streams',
  }),
  setting({
    key: 'maxConnectionIdleMs',
    flag: 'max-connection-idle-ms',
    env: 'UNWRAPD_MAX_CONNECTION_IDLE_MS',
    type: integer(0, WEEK_MS),
    default: 600_000,
    summary: 'a connection with no call this long is sent GOAWAY; 0 = off',
    description: 'a connection with no call open for this long is sent GOAWAY. 0 = off',
    group: 'streams',
  }),
  setting({
    key: 'maxMetadataBytes',
    flag: 'max-metadata-bytes',
    env: 'UNWRAPD_MAX_METADATA_BYTES',
    type: integer(1024, MiB),
    default: 64 * 1024,
    summary: 'largest header list (metadata) a call may send',
    description:
      'HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE`: a call whose metadata (headers) is larger is reset by HTTP/2 before it is handled; far larger header blocks close the connection. Leave room for `x-forwarded-client-cert` behind a mesh',
    group: 'streams',
  }),
] as const;
