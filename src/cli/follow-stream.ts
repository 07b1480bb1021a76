import * as grpc from '@grpc/grpc-js';

/**
 * Follows a server stream for a command line: hands each message to `onMessage` until the stream ends, `limit`
 * messages have been handled (then cancels it; later messages are dropped), or SIGINT/SIGTERM cancels it.
 * Resolves 0 on each of those (a cancel is the normal way out); rejects with any other error.
 */
export function followStream<T>(
  stream: grpc.ClientReadableStream<T>,
  limit: number,
  onMessage: (message: T) => void,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let seen = 0;
    const stop = () => stream.cancel();
    const unhook = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
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
