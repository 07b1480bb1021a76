import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger.js';
import { REQUEST_ID_HEADER, RequestContext } from '../log/request-context.js';
import { callSignal, LazyCallSignal } from './call-signal.js';
import { toStatus } from './status-codes.js';

/**
 * Adapts an async handler to grpc-js: gives it the call's abort signal and its request context (request id,
 * caller, trace id: src/log/request-context.ts) and maps any error to a status, logged through the request's
 * logger. A failed call's trailing metadata carries `x-request-id`, so a client can quote it.
 */
export function unary<Req, Res>(
  method: string,
  log: Logger,
  handler: (
    request: Req,
    signal: AbortSignal,
    call: grpc.ServerUnaryCall<Req, Res>,
    ctx: RequestContext,
  ) => Promise<Res> | Res,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const { signal, done } = callSignal(call);
    run(method, log, call, callback, done, (ctx) => handler(call.request, signal, call, ctx));
  };
}

/**
 * unary() for handlers that need the call's signal only sometimes (a cache-hit Encrypt never waits on a
 * provider): the signal is made on first read of `signal.signal` (call-signal.ts, LazyCallSignal).
 */
export function lazySignalUnary<Req, Res>(
  method: string,
  log: Logger,
  handler: (
    request: Req,
    signal: LazyCallSignal,
    call: grpc.ServerUnaryCall<Req, Res>,
    ctx: RequestContext,
  ) => Promise<Res> | Res,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const signal = new LazyCallSignal(call);
    run(
      method,
      log,
      call,
      callback,
      () => signal.done(),
      (ctx) => handler(call.request, signal, call, ctx),
    );
  };
}

function run<Req, Res>(
  method: string,
  log: Logger,
  call: grpc.ServerUnaryCall<Req, Res>,
  callback: grpc.sendUnaryData<Res>,
  done: () => void,
  handle: (ctx: RequestContext) => Promise<Res> | Res,
): void {
  const ctx = new RequestContext(method, log, call.metadata, (call.request as { requestId?: unknown }).requestId);
  let result: Promise<Res> | Res;
  try {
    result = handle(ctx);
  } catch (err) {
    done();
    callback(failed(err, ctx));
    return;
  }
  Promise.resolve(result).then(
    (response) => {
      done();
      callback(null, response);
    },
    (err: unknown) => {
      done();
      callback(failed(err, ctx));
    },
  );
}

/** The status of a failed call (status-codes.ts), with the request id in its trailing metadata; a debug line. */
export function failed(err: unknown, ctx: RequestContext): Partial<grpc.StatusObject> {
  const status = toStatus(err, ctx.log, ctx.method);
  ctx.log.debug('call failed', { code: grpc.status[status.code ?? grpc.status.UNKNOWN] });
  status.metadata ??= new grpc.Metadata();
  status.metadata.set(REQUEST_ID_HEADER, ctx.requestId);
  return status;
}
