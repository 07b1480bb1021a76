import * as grpc from '@grpc/grpc-js';
import { cliIo } from './cli-io.js';

/**
 * Follows a server stream for a command line: hands each message to `onMessage` until the stream ends, `limit`
 * messages have been handled (then cancels it; later messages are dropped), or a stop signal (SIGINT/SIGTERM
 * for a process: cli-io.ts) cancels it.
 * Resolves 0 on each of those (a cancel is the normal way out); rejects with any other error.
 */
export function followStream<T>(
  stream: grpc.ClientReadableStream<T>,
  limit: number,
  onMessage: (message: T) => void,
): Promise<number> {
  const io = cliIo();
  return new Promise<number>((resolve, reject) => {
    let seen = 0;
    const stop = () => stream.cancel();
    let hooked: (() => void) | undefined = io.onStopSignal(stop);
    // Once: a cancelled stream may both fail (CANCELLED) and end.
    const unhook = () => {
      hooked?.();
      hooked = undefined;
    };
    stream.on('data', (message: T) => {
      if (seen >= limit) return;
      onMessage(message);
      if (++seen >= limit) stop();
    });
    stream.on('error', (err: grpc.ServiceError) => {
      unhook();
      if (err.code === grpc.status.CANCELLED) resolve(0);
      else reject(err);
    });
    stream.on('end', () => {
      unhook();
      resolve(0);
    });
  });
}
