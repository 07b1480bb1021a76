import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { connect as netConnect } from 'node:net';

/**
 * Requests built byte by byte, for the hostile-input benchmark (bench/hostile.ts): protobuf fields written
 * by hand (so a message can hold what no generated client would write: millions of empty items, invalid
 * UTF-8 in a string), sent either through grpc-js with an identity serializer or over a bare HTTP/2 session
 * (cancelled at once, never read, huge headers).
 */

export function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited field (wire type 2): tag, length, bytes. */
export function field(num: number, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([varint((num << 3) | 2), varint(bytes.length), bytes]);
}

/** A map<string,string> entry whose key and value are raw bytes (any bytes, valid UTF-8 or not). */
export function mapEntry(num: number, key: Buffer | string, value: Buffer | string): Buffer {
  return field(num, Buffer.concat([field(1, key), field(2, value)]));
}

/** The first length-delimited field `num` of a message, or undefined (enough to read an envelope back). */
export function readField(msg: Buffer, num: number): Buffer | undefined {
  let off = 0;
  const readVarint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = msg[off++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (off < msg.length) {
    const tag = readVarint();
    const type = tag & 7;
    if (type === 2) {
      const len = readVarint();
      if (tag >>> 3 === num) return msg.subarray(off, off + len);
      off += len;
    } else if (type === 0) readVarint();
    else if (type === 5) off += 4;
    else if (type === 1) off += 8;
    else return undefined;
  }
  return undefined;
}

/** A gRPC length-prefixed message: flag 0 (uncompressed), u32 length, bytes. */
export function grpcFrame(msg: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(msg.length, 1);
  return Buffer.concat([prefix, msg]);
}

/** A grpc-js client that sends and returns raw bytes, on a connection of its own (not shared with other clients). */
export function rawClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
  });
}

export interface RawResult {
  /** Status name (`OK`, `RESOURCE_EXHAUSTED`, ...). */
  status: string;
  details: string;
  response: Buffer | undefined;
  ms: number;
}

export function rawUnary(client: grpc.Client, method: string, body: Buffer, deadlineMs: number, metadata = new grpc.Metadata()): Promise<RawResult> {
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
  const unix = address.startsWith('unix://') ? address.slice('unix://'.length) : address.startsWith('unix:') ? address.slice(5) : undefined;
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
