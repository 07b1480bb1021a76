import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { chmod, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import type { AdminHandlers } from '../generated/unwrapd/v1/Admin.js';
import type { CryptoHandlers } from '../generated/unwrapd/v1/Crypto.js';
import { UnwrapdError } from '../errors.js';
import { loadProto } from './proto.js';

export const SERVICE_NAMES = ['unwrapd.v1.Crypto', 'unwrapd.v1.Admin'] as const;

export interface GrpcServerOptions {
  listen: string;
  /** Largest message in either direction (a block plus envelope overhead, with room for fields). */
  maxMessageBytes: number;
  socketMode: number;
  crypto: CryptoHandlers;
  admin: AdminHandlers;
  /** From serverCredentials (src/server/transport-security.ts). Default: insecure. */
  credentials?: grpc.ServerCredentials;
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
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxMessageBytes,
    'grpc.max_send_message_length': opts.maxMessageBytes,
    'grpc.keepalive_permit_without_calls': 1,
  });
  server.addService(proto.unwrapd.v1.Crypto.service, opts.crypto);
  server.addService(proto.unwrapd.v1.Admin.service, opts.admin);
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAMES[0]]: 'NOT_SERVING', [SERVICE_NAMES[1]]: 'NOT_SERVING' });
  health.addToServer(server);
  new ReflectionService(definition).addToServer(server);

  const socketPath = opts.listen.startsWith('unix://') ? opts.listen.slice('unix://'.length) : undefined;
  if (socketPath) await removeStaleSocket(socketPath);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.listen, opts.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(bindError(opts.listen, err)) : resolve(p)));
  });
  if (socketPath) await chmod(socketPath, opts.socketMode);
  const address = socketPath ? opts.listen : opts.listen.replace(/:\d+$/, `:${port}`);
  for (const name of ['', ...SERVICE_NAMES]) health.setStatus(name, 'SERVING');

  let closing: Promise<{ drained: boolean }> | undefined;
  return {
    address,
    health,
    shutdown(timeoutMs: number) {
      closing ??= (async () => {
        for (const name of ['', ...SERVICE_NAMES]) health.setStatus(name, 'NOT_SERVING');
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
        if (socketPath) await unlink(socketPath).catch(() => {});
        return { drained };
      })();
      return closing;
    },
  };
}

function bindError(listen: string, err: Error): UnwrapdError {
  return new UnwrapdError('unavailable', `cannot listen on ${listen}: ${err.message}`, { cause: err });
}

/** A socket file left by a killed daemon blocks bind; one that still answers belongs to a live daemon. */
async function removeStaleSocket(path: string): Promise<void> {
  const live = await new Promise<boolean>((resolve) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
  if (live) throw new UnwrapdError('unavailable', `another process is already listening on ${path}`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
