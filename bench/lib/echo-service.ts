import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { unlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LOADER_OPTIONS } from '../../src/rpc/proto.js';
import { applyReceiveWindows } from '../../src/server/connection-options.js';
import { HTTP2_DEFAULT_WINDOW_BYTES } from '../../src/server/stream-limits.js';

/**
 * The transport baseline: a bare grpc-js unary Echo that returns the request's bytes. Loaded and served
 * the way unwrapd loads and serves its protos, so the only difference left is what the handler does.
 */

export const ECHO_PROTO_DIR = fileURLToPath(new URL('..', import.meta.url));

export interface EchoMessage {
  payload?: Buffer;
}

export interface EchoClient extends grpc.Client {
  Echo(req: EchoMessage, options: grpc.CallOptions, callback: grpc.requestCallback<EchoMessage>): grpc.ClientUnaryCall;
  EchoStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<EchoMessage, EchoMessage>;
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
      }),
  };
}

export function createEchoClient(address: string, maxMessageBytes: number, windowBytes?: number): EchoClient {
  const { Echo } = loadEchoProto().unwrapd.bench;
  return new Echo(
    address,
    grpc.credentials.createInsecure(),
    channelOptions(maxMessageBytes, windowBytes),
  ) as unknown as EchoClient;
}
