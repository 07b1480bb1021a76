import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { openBlock, parseEnvelope, sealBlock } from '../../src/crypto/envelope.js';
import { SecretKey } from '../../src/crypto/secret-key.js';
import { SegmentOpener } from '../../src/crypto/segment-opener.js';
import { SegmentSealer } from '../../src/crypto/segment-sealer.js';
import { LOADER_OPTIONS } from '../../src/rpc/proto.js';
import { applyReceiveWindows } from '../../src/server/connection-options.js';
import { HTTP2_DEFAULT_WINDOW_BYTES } from '../../src/config/settings-streams.js';

/**
 * The transport baseline: a bare grpc-js unary Echo that returns the request's bytes. Loaded and served
 * the way unwrapd loads and serves its protos, so the only difference left is what the handler does.
 */

export const ECHO_PROTO_DIR = fileURLToPath(new URL('..', import.meta.url));

export interface EchoMessage {
  payload?: Buffer;
  /** SealEcho only: seal each this many bytes of the payload as a block of its own (0: the whole payload). */
  itemBytes?: number;
}

export interface EchoClient extends grpc.Client {
  Echo(req: EchoMessage, options: grpc.CallOptions, callback: grpc.requestCallback<EchoMessage>): grpc.ClientUnaryCall;
  EchoStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<EchoMessage, EchoMessage>;
  SealEchoStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<EchoMessage, EchoMessage>;
  OpenEchoStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<EchoMessage, EchoMessage>;
  SealEcho(
    req: EchoMessage,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<EchoMessage>,
  ): grpc.ClientUnaryCall;
  OpenEcho(
    req: EchoMessage,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<EchoMessage>,
  ): grpc.ClientUnaryCall;
}

interface EchoProto {
  unwrapd: { bench: { Echo: grpc.ServiceClientConstructor } };
}

let cached: EchoProto | undefined;

function loadEchoProto(): EchoProto {
  cached ??= grpc.loadPackageDefinition(
    protoLoader.loadSync('echo.proto', { ...LOADER_OPTIONS, includeDirs: [ECHO_PROTO_DIR] }),
  ) as unknown as EchoProto;
  return cached;
}

/** Server options as src/server/grpc-server.ts sets them. */
export function serverOptions(maxMessageBytes: number): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.keepalive_permit_without_calls': 1,
  };
}

/** Client channel options as src/client/client.ts sets them (`windowBytes`: its receiveWindowBytes). */
export function channelOptions(maxMessageBytes: number, windowBytes?: number): grpc.ChannelOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    ...(windowBytes ? { 'grpc-node.flow_control_window': windowBytes } : {}),
  };
}

export interface EchoServer {
  address: string;
  close(): Promise<void>;
}

/** The reference every SealEcho envelope names (the demo policy's shape); OpenEcho needs none. */
const FLOOR_REF = { tenant: 'demo', policyId: 'demo-mailbox', keyVersion: 1 };
const NO_CONTEXT = {};

/** The segment size of the streams' crypto floor: EncryptStream's default. */
const FLOOR_SEGMENT_BYTES = 64 * 1024;

type Duplex = grpc.ServerDuplexStream<EchoMessage, EchoMessage>;

/**
 * A duplex stream that turns each message's payload into zero or more payloads (`step`), then `end()`'s, with
 * EchoStream's backpressure: reading stops while the response side is full. A throw fails the call.
 */
function transformStream(call: Duplex, step: (payload: Buffer) => Iterable<Buffer>, end: () => Iterable<Buffer>) {
  // As the daemon's stream handlers fail a call: an 'error' event grpc-js turns into the call's status.
  const fail = (err: unknown) =>
    call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: err instanceof Error ? err.message : 'failed' });
  const send = (parts: Iterable<Buffer>) => {
    let full = false;
    for (const payload of parts) full = !call.write({ payload }) || full;
    if (full) {
      call.pause();
      call.once('drain', () => call.resume());
    }
  };
  call.on('data', (m: EchoMessage) => {
    try {
      send(step(m.payload ?? Buffer.alloc(0)));
    } catch (err) {
      fail(err);
    }
  });
  call.on('end', () => {
    try {
      send(end());
      call.end();
    } catch (err) {
      fail(err);
    }
  });
  call.on('error', () => {});
}

function sealEchoStream(kek: SecretKey, call: Duplex): void {
  const sealer = new SegmentSealer({ ref: FLOOR_REF, kek, context: NO_CONTEXT, segmentSize: FLOOR_SEGMENT_BYTES });
  let headerSent = false;
  call.once('close', () => sealer.destroy());
  transformStream(
    call,
    function* (payload) {
      if (!headerSent) {
        headerSent = true;
        yield sealer.header;
      }
      yield* sealer.push(payload);
    },
    function* () {
      if (!headerSent) yield sealer.header;
      yield sealer.final();
      sealer.destroy();
    },
  );
}

function openEchoStream(kek: SecretKey, call: Duplex): void {
  const opener = new SegmentOpener({ context: NO_CONTEXT });
  let unlocked = false;
  call.once('close', () => opener.destroy());
  transformStream(
    call,
    function* (payload) {
      if (unlocked) return yield* opener.push(payload);
      const read = opener.readHeader(payload);
      if (!read) return;
      opener.unlock(kek);
      unlocked = true;
      yield* opener.push(read.rest);
    },
    function* () {
      yield opener.final();
      opener.destroy();
    },
  );
}

/**
 * SealEcho, OpenEcho and their streams (bench/echo.proto): the crypto of Encrypt, Decrypt and their streams,
 * through the same sealBlock / parseEnvelope + openBlock (SegmentSealer / SegmentOpener), under one
 * key-encryption key held for the server's life; nothing else.
 */
function cryptoFloor(
  kek: SecretKey,
): Pick<grpc.UntypedServiceImplementation, 'SealEcho' | 'OpenEcho' | 'SealEchoStream' | 'OpenEchoStream'> {
  const seal = (plaintext: Buffer) => sealBlock({ ref: FLOOR_REF, kek, plaintext, context: NO_CONTEXT });
  return {
    SealEcho: (call: grpc.ServerUnaryCall<EchoMessage, EchoMessage>, callback: grpc.sendUnaryData<EchoMessage>) => {
      const payload = call.request.payload ?? Buffer.alloc(0);
      const item = call.request.itemBytes ?? 0;
      if (item === 0 || item >= payload.length) return callback(null, { payload: seal(payload) });
      const envelopes: Buffer[] = [];
      for (let at = 0; at < payload.length; at += item) envelopes.push(seal(payload.subarray(at, at + item)));
      callback(null, { payload: Buffer.concat(envelopes) });
    },
    OpenEcho: (call: grpc.ServerUnaryCall<EchoMessage, EchoMessage>, callback: grpc.sendUnaryData<EchoMessage>) => {
      try {
        callback(null, { payload: openBlock(parseEnvelope(call.request.payload ?? Buffer.alloc(0)), kek, NO_CONTEXT) });
      } catch (err) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message });
      }
    },
    SealEchoStream: (call: Duplex) => sealEchoStream(kek, call),
    OpenEchoStream: (call: Duplex) => openEchoStream(kek, call),
  };
}

/**
 * `windowBytes`: the HTTP/2 receive window of each call and of each connection, given as the daemon gives its
 * own (src/server/connection-options.ts); default HTTP/2's 65,535 bytes, which is grpc-js's.
 */
export async function startEchoServer(
  listen: string,
  maxMessageBytes: number,
  windowBytes = HTTP2_DEFAULT_WINDOW_BYTES,
): Promise<EchoServer> {
  const proto = loadEchoProto();
  const server = new grpc.Server(serverOptions(maxMessageBytes));
  applyReceiveWindows(server, windowBytes, windowBytes);
  const kek = SecretKey.copyFrom(randomBytes(32), true);
  const echo: grpc.UntypedServiceImplementation = {
    Echo: (call: grpc.ServerUnaryCall<EchoMessage, EchoMessage>, callback: grpc.sendUnaryData<EchoMessage>) => {
      callback(null, { payload: call.request.payload });
    },
    // Each message straight back; stops reading while the response side is full (as unwrapd's streams do).
    EchoStream: (call: grpc.ServerDuplexStream<EchoMessage, EchoMessage>) => {
      call.on('data', (m: EchoMessage) => {
        if (!call.write(m)) {
          call.pause();
          call.once('drain', () => call.resume());
        }
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
    ...cryptoFloor(kek),
  };
  server.addService(proto.unwrapd.bench.Echo.service, echo);
  const socketPath = listen.startsWith('unix://') ? listen.slice('unix://'.length) : undefined;
  if (socketPath) await unlink(socketPath).catch(() => {});
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: socketPath ? listen : listen.replace(/:\d+$/, `:${port}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000).unref();
      }).finally(() => kek.destroy()),
  };
}

/** The Echo service's definition (bench/echo.proto), for a server of its own. */
export function echoServiceDefinition(): grpc.ServiceDefinition {
  return loadEchoProto().unwrapd.bench.Echo.service;
}

export function createEchoClient(address: string, maxMessageBytes: number, windowBytes?: number): EchoClient {
  const { Echo } = loadEchoProto().unwrapd.bench;
  return new Echo(
    address,
    grpc.credentials.createInsecure(),
    channelOptions(maxMessageBytes, windowBytes),
  ) as unknown as EchoClient;
}

/**
 * Whether the echo at the other end of `echo` serves the crypto floor (SealEcho): false for an Echo built before
 * it (UNIMPLEMENTED), whose floor scenarios are then left out with a note instead of failing the run.
 */
export async function servesCryptoFloor(echo: EchoClient): Promise<boolean> {
  try {
    await new Promise<void>((resolve, reject) =>
      echo.SealEcho({ payload: Buffer.alloc(16) }, { deadline: Date.now() + 30_000 }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    return true;
  } catch (err) {
    if ((err as grpc.ServiceError).code !== grpc.status.UNIMPLEMENTED) throw err;
    process.stderr.write('note: the echo has no SealEcho (built before the crypto floor): the floor is left out\n');
    return false;
  }
}
