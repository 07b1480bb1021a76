/**
 * A raw gRPC client on node:http2, for tests that send what a well-behaved gRPC library never would:
 * truncated frames, a wrong content-type, oversized metadata, floods of reset streams, a client that never
 * lets the server send. The few request messages these tests need are built with proto-wire.ts.
 */
import { connect as netConnect } from 'node:net';
import * as http2 from 'node:http2';
import { lenField } from './proto-wire.js';

/** StreamHeader {tenant = 1, policy_id = 2}. */
export function streamHeader(tenant: string, policyId?: string): Buffer {
  return Buffer.concat([lenField(1, tenant), ...(policyId ? [lenField(2, policyId)] : [])]);
}

/** EncryptStreamRequest / DecryptStreamRequest: {header = 1} or {chunk = 2}. */
export const streamRequest = {
  header: (tenant: string, policyId?: string) => lenField(1, streamHeader(tenant, policyId)),
  chunk: (bytes: Buffer) => lenField(2, bytes),
};

/** DecryptRequest {tenant = 1, envelope = 2}. */
export function decryptRequest(tenant: string, envelope: Buffer): Buffer {
  return Buffer.concat([lenField(1, tenant), lenField(2, envelope)]);
}

export interface RawConnection {
  session: http2.ClientHttp2Session;
  /** Resolves when the connection has closed (either side), with the GOAWAY code if the server sent one. */
  closed: Promise<{ goawayCode?: number }>;
  close(): void;
  /** Cuts the connection at once (no GOAWAY, no RST_STREAM): the socket is destroyed. */
  cut(): void;
}

/** Opens an HTTP/2 connection to `unix:///path` or `host:port`, with optional local HTTP/2 settings. */
export async function connectRaw(address: string, settings: http2.Settings = {}): Promise<RawConnection> {
  const socketPath = address.startsWith('unix://') ? address.slice('unix://'.length) : undefined;
  const tcp = /^(.*):(\d+)$/.exec(address);
  // Our own socket, so cut() can destroy it under the session (which forbids touching its socket).
  const socket = socketPath ? netConnect(socketPath) : netConnect(Number(tcp?.[2]), tcp?.[1]?.replace(/^\[|\]$/g, ''));
  const session = http2.connect('http://localhost', { settings, createConnection: () => socket });
  let goawayCode: number | undefined;
  session.on('goaway', (code) => (goawayCode = code));
  session.on('error', () => {}); // reported through `closed` and the streams
  const closed = new Promise<{ goawayCode?: number }>((resolve) =>
    session.once('close', () => resolve({ goawayCode })),
  );
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  return {
    session,
    closed,
    close: () => session.close(),
    cut: () => socket.destroy(),
  };
}

export interface RawResult {
  /** The HTTP status of the response headers, if any came. */
  httpStatus?: number;
  /** grpc-status and grpc-message, from the trailers (or a trailers-only response). */
  grpcStatus?: number;
  grpcMessage?: string;
  /** RST_STREAM code if the server reset the stream (0: closed normally, or by this client after the status). */
  rstCode: number;
  /** Response body bytes received. */
  bytes: number;
}

export interface RawCall {
  stream: http2.ClientHttp2Stream;
  /** Settles when the stream has closed: how it ended. Never rejects. */
  result: Promise<RawResult>;
}

/**
 * Starts a call to `/unwrapd.v1.Crypto/<method>`. `headers` override or add to the usual gRPC request
 * headers. The body is written by the caller (`stream.write(grpcFrame(...))`, `stream.end()`).
 * `read: false` never consumes the response body (the stream stays paused).
 */
export function rawCall(
  conn: RawConnection,
  method: string,
  opts: { headers?: http2.OutgoingHttpHeaders; read?: boolean } = {},
): RawCall {
  const stream = conn.session.request({
    ':method': 'POST',
    ':path': `/unwrapd.v1.Crypto/${method}`,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...opts.headers,
  });
  const out: RawResult = { rstCode: 0, bytes: 0 };
  const take = (h: http2.IncomingHttpHeaders) => {
    if (h[':status'] !== undefined) out.httpStatus = Number(h[':status']);
    if (h['grpc-message'] !== undefined) out.grpcMessage = decodeURIComponent(String(h['grpc-message']));
    if (h['grpc-status'] !== undefined) {
      out.grpcStatus = Number(h['grpc-status']);
      // The server has ended its side; a client still sending would keep the stream half-open: close it.
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    }
  };
  stream.on('response', take);
  stream.on('trailers', take);
  stream.on('error', () => {}); // a reset or a closed connection: reported through rstCode
  if (opts.read === false) stream.pause();
  else stream.on('data', (d: Buffer) => (out.bytes += d.length));
  const result = new Promise<RawResult>((resolve) =>
    stream.once('close', () => {
      out.rstCode = stream.rstCode ?? 0;
      resolve(out);
    }),
  );
  return { stream, result };
}

/** Reads `VmRSS` of a process from /proc, in bytes. */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}
