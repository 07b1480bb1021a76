import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { AdminHandlers } from '../generated/unwrapd/v1/Admin.js';
import type { CryptoHandlers } from '../generated/unwrapd/v1/Crypto.js';
import { UnwrapdError } from '../errors.js';
import { applyHttp2Settings, connectionOptions, type ConnectionLimits } from './connection-options.js';
import { loadProto } from '../rpc/proto.js';
import {
  ADMIN_REQUEST_LIMIT,
  cryptoRequestLimits,
  largestRequest,
  countingRefusalInterceptor,
  scanLimits,
  withRequestLimits,
  type RequestLimitSettings,
} from './request-limits.js';
import { addReflection } from './reflection.js';
import { bindUnixSocket, removeSocket } from './unix-socket.js';
import { withResponseEncoders } from './response-wire.js';
import { instrumentService, refusalCounter } from './instrumented-service.js';
import type { Telemetry } from '../telemetry/telemetry.js';

export const CRYPTO_SERVICE = 'unwrapd.v1.Crypto';
export const ADMIN_SERVICE = 'unwrapd.v1.Admin';
export const SERVICE_NAMES = [CRYPTO_SERVICE, ADMIN_SERVICE] as const;

export interface GrpcServerOptions {
  listen: string;
  /** Largest message in either direction (a block plus envelope overhead, with room for fields). */
  maxMessageBytes: number;
  /** File mode of a Unix socket, in force before the socket is connectable (src/server/unix-socket.ts). */
  socketMode: number;
  /** Group of a Unix socket (gid), set before it is connectable; undefined: the process's group. */
  socketGid?: number;
  /**
   * The services this listener serves. The data listener serves only Crypto, the admin listener only Admin:
   * a service not registered here answers UNIMPLEMENTED, and reflection does not list it.
   */
  crypto?: CryptoHandlers;
  admin?: AdminHandlers;
  /** Transport security (TLS, mTLS); default insecure (Unix sockets, loopback TCP). */
  credentials?: grpc.ServerCredentials;
  /** Per-connection bounds (src/server/connection-options.ts); default: grpc-js's and Node's own. */
  connections?: ConnectionLimits;
  /**
   * Per-method receive limits, checked on the request bytes before they are decoded (src/server/request-limits.ts);
   * the server-wide receive limit is then the largest of them. Without it, `maxMessageBytes` for every request.
   */
  requestLimits?: RequestLimitSettings;
  /** Metrics and spans of every call (src/server/instrumented-service.ts); default none. */
  telemetry?: Telemetry;
  /** Told once if server reflection, made at its first call, cannot be made (src/server/reflection.ts). */
  onReflectionError?: (err: unknown) => void;
}

export interface RunningServer {
  /** The address actually bound (for TCP port 0, the chosen port). */
  address: string;
  health: HealthImplementation;
  /** Stops accepting, lets in-flight calls finish for up to `timeoutMs`, then cancels what is left. */
  shutdown(timeoutMs: number): Promise<{ drained: boolean }>;
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<RunningServer> {
  const { definition, proto } = loadProto();
  const limits = opts.requestLimits;
  const cryptoLimits = limits ? cryptoRequestLimits(limits) : {};
  const limitOf = (method: string) => cryptoLimits[method] ?? ADMIN_REQUEST_LIMIT;
  const services: [grpc.ServiceDefinition, grpc.UntypedServiceImplementation, string][] = [];
  if (opts.crypto)
    services.push([
      withResponseEncoders(proto.unwrapd.v1.Crypto.service),
      opts.crypto as grpc.UntypedServiceImplementation,
      CRYPTO_SERVICE,
    ]);
  if (opts.admin)
    services.push([proto.unwrapd.v1.Admin.service, opts.admin as grpc.UntypedServiceImplementation, ADMIN_SERVICE]);
  const receive = limits
    ? Math.max(...services.map(([service]) => largestRequest(service, limitOf)), 64 * 1024)
    : opts.maxMessageBytes;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': receive,
    'grpc.max_send_message_length': opts.maxMessageBytes,
    'grpc.keepalive_permit_without_calls': 1,
    ...(opts.connections ? connectionOptions(opts.connections) : {}),
    ...(limits ? { interceptors: [countingRefusalInterceptor(refusalCounter(opts.telemetry))] } : {}),
  });
  if (opts.connections) applyHttp2Settings(server, opts.connections);
  const names: string[] = [];
  for (const [service, implementation, name] of services) {
    server.addService(
      limits ? withRequestLimits(service, definition, limitOf, scanLimits(limits)) : service,
      opts.telemetry ? instrumentService(service, implementation, name, opts.telemetry) : implementation,
    );
    names.push(name);
  }
  const health = new HealthImplementation(Object.fromEntries(['', ...names].map((n) => [n, 'NOT_SERVING'])));
  health.addToServer(server);
  // Reflection lists only what this listener serves, and the health service (so grpcurl needs no proto for it).
  addReflection(server, definition, names, opts.onReflectionError);

  const credentials = opts.credentials ?? grpc.ServerCredentials.createInsecure();
  const bind = (address: string) =>
    new Promise<number>((resolve, reject) => {
      server.bindAsync(address, credentials, (err, p) => (err ? reject(bindError(opts.listen, err)) : resolve(p)));
    });
  const socketPath = opts.listen.startsWith('unix://') ? opts.listen.slice('unix://'.length) : undefined;
  let address: string;
  if (socketPath) {
    await bindUnixSocket(socketPath, { mode: opts.socketMode, gid: opts.socketGid }, (tmp) => bind(`unix://${tmp}`));
    address = opts.listen;
  } else {
    const port = await bind(opts.listen);
    address = opts.listen.replace(/:\d+$/, `:${port}`);
  }
  for (const name of ['', ...names]) health.setStatus(name, 'SERVING');

  let closing: Promise<{ drained: boolean }> | undefined;
  return {
    address,
    health,
    shutdown(timeoutMs: number) {
      closing ??= (async () => {
        for (const name of ['', ...names]) health.setStatus(name, 'NOT_SERVING');
        const drained = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => {
            server.forceShutdown();
            resolve(false);
          }, timeoutMs);
          timer.unref();
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve(true);
          });
        });
        if (socketPath) await removeSocket(socketPath);
        return { drained };
      })();
      return closing;
    },
  };
}

function bindError(listen: string, err: Error): UnwrapdError {
  return new UnwrapdError('unavailable', `cannot listen on ${listen}: ${err.message}`, { cause: err });
}
