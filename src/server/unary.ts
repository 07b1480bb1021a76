import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger.js';
import { callSignal } from './call-signal.js';
import { toStatus } from './status-codes.js';

/** Adapts an async handler to grpc-js: gives it the call's abort signal and maps any error to a status. */
export function unary<Req, Res>(
  method: string,
  log: Logger,
  handler: (request: Req, signal: AbortSignal, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const { signal, done } = callSignal(call);
    let result: Promise<Res> | Res;
    try {
      result = handler(call.request, signal, call);
    } catch (err) {
      done();
      callback(toStatus(err, log, method));
      return;
    }
    Promise.resolve(result).then(
      (response) => {
        done();
        callback(null, response);
      },
      (err: unknown) => {
        done();
        callback(toStatus(err, log, method));
      },
    );
  };
}
