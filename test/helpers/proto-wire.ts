import * as grpc from '@grpc/grpc-js';

/**
 * Raw protobuf bytes and raw gRPC calls, for tests that must send what no well-behaved encoder would:
 * millions of empty items, invalid UTF-8, duplicate fields, messages of an exact size. The one hand-written
 * protobuf encoder of the repository: test/helpers/raw-grpc.ts (bare HTTP/2) and bench/lib/raw-grpc.ts (the
 * hostile-input benchmark) build their bytes with it too.
 */
export function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited field (string, bytes, message). */
export function lenField(no: number, payload: Uint8Array | string): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([varint((no << 3) | 2), varint(bytes.length), bytes]);
}

export function varintField(no: number, value: number): Buffer {
  return Buffer.concat([varint(no << 3), varint(value)]);
}

/** One map<string, string> entry of field `no`, key and value given as raw bytes. */
export function mapEntry(no: number, key: Uint8Array | string, value: Uint8Array | string): Buffer {
  return lenField(no, Buffer.concat([lenField(1, key), lenField(2, value)]));
}

/** The first length-delimited field `no` of a message, or undefined (enough to read an envelope back). */
export function readField(msg: Buffer, no: number): Buffer | undefined {
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
      if (tag >>> 3 === no) return msg.subarray(off, off + len);
      off += len;
    } else if (type === 0) readVarint();
    else if (type === 5) off += 4;
    else if (type === 1) off += 8;
    else return undefined;
  }
  return undefined;
}

/** A length-prefixed gRPC message (uncompressed). `declaredLength` lies about the length (truncation tests). */
export function grpcFrame(message: Buffer, declaredLength = message.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([prefix, message]);
}

/** The size of a length-delimited field holding `n` bytes of payload. */
export function lenFieldSize(no: number, n: number): number {
  return varint((no << 3) | 2).length + varint(n).length + n;
}

/** A bytes field of `no` padded so that `prefix` + it is exactly `total` bytes. */
export function padTo(prefix: Buffer, no: number, total: number): Buffer {
  let n = total - prefix.length - 2;
  while (prefix.length + lenFieldSize(no, n) > total) n--;
  while (prefix.length + lenFieldSize(no, n) < total) n++;
  const out = Buffer.concat([prefix, lenField(no, Buffer.alloc(n, 0x41))]);
  if (out.length !== total) throw new Error(`cannot pad to exactly ${total} bytes`);
  return out;
}

export interface RawOutcome {
  code: number;
  details: string;
  response?: Buffer;
}

const identity = (b: Buffer) => b;

/** A client sending and receiving raw bytes; `options` are channel options (e.g. compression). */
export function rawClient(address: string, options: grpc.ChannelOptions = {}): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
    ...options,
  });
}

/** One unary call of `path` ("/unwrapd.v1.Crypto/Decrypt") with `bytes` as the request, as sent. */
export function rawUnary(client: grpc.Client, path: string, bytes: Buffer, deadlineMs = 60_000): Promise<RawOutcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      identity,
      identity,
      bytes,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, value) => {
        if (err) resolve({ code: err.code, details: err.details });
        else resolve({ code: grpc.status.OK, details: '', response: value });
      },
    );
  });
}

/** A bidi call of `path`: writes `messages` (raw), half-closes, and collects the status. */
export function rawBidi(
  client: grpc.Client,
  path: string,
  messages: Buffer[],
  deadlineMs = 60_000,
): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest(path, identity, identity, new grpc.Metadata(), {
      deadline: Date.now() + deadlineMs,
    });
    call.on('data', () => {});
    call.on('error', () => {});
    call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details }));
    for (const m of messages) call.write(m);
    call.end();
  });
}
