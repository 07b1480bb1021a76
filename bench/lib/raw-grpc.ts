import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import { rawClient as rawBytesClient } from '../../test/helpers/proto-wire.js';

/**
 * Requests sent raw, for the hostile-input benchmark (bench/hostile.ts): bytes built by hand with
 * test/helpers/proto-wire.ts (so a message can hold what no generated client would write: millions of empty
 * items, invalid UTF-8 in a string), sent either through grpc-js with an identity serializer or over a bare
 * HTTP/2 session (cancelled at once, never read, huge headers).
 */

/** A grpc-js client that sends and returns raw bytes, on a connection of its own (not shared with other clients). */
export function rawClient(address: string): grpc.Client {
  return rawBytesClient(address, { 'grpc.use_local_subchannel_pool': 1 });
}

export interface RawResult {
  /** Status name (`OK`, `RESOURCE_EXHAUSTED`, ...). */
  status: string;
  details: string;
  response: Buffer | undefined;
  ms: number;
}

export function rawUnary(
  client: grpc.Client,
  method: string,
  body: Buffer,
  deadlineMs: number,
  metadata = new grpc.Metadata(),
): Promise<RawResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      method,
      (b) => b,
      (b) => b,
      body,
      metadata,
      { deadline: Date.now() + deadlineMs },
      (err, res) =>
        resolve({
          status: err ? (grpc.status[err.code] ?? String(err.code)) : 'OK',
          details: err?.details ?? '',
          response: res ?? undefined,
          ms: performance.now() - t0,
        }),
    );
  });
}

/** A bare HTTP/2 session to a gRPC server (`unix:///path` or `host:port`). */
export function rawSession(address: string, opts: http2.ClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  const unix = address.startsWith('unix://')
    ? address.slice('unix://'.length)
    : address.startsWith('unix:')
      ? address.slice(5)
      : undefined;
  const authority = unix ? 'http://localhost' : `http://${address}`;
  const session = http2.connect(authority, { ...opts, ...(unix ? { createConnection: () => netConnect(unix) } : {}) });
  return new Promise((resolve, reject) => {
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

export const GRPC_HEADERS = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' } as const;

/**
 * What a raw call ended with, as one label: `grpc-status <NAME>` from the headers or trailers, `RST <code>`
 * for a stream reset without a status, or the error code of the stream or session.
 */
export function outcomeOf(req: http2.ClientHttp2Stream): Promise<string> {
  return new Promise((resolve) => {
    let label: string | undefined;
    const fromHeaders = (h: http2.IncomingHttpHeaders) => {
      const s = h['grpc-status'];
      if (s !== undefined && label === undefined) label = `grpc-status ${grpc.status[Number(s)] ?? s}`;
    };
    req.on('response', fromHeaders);
    req.on('trailers', fromHeaders);
    req.on('error', (err: NodeJS.ErrnoException) => (label ??= err.code ?? err.message));
    req.on('close', () => resolve(label ?? `RST ${req.rstCode ?? '?'}`));
  });
}
