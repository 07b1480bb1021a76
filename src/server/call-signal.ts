import type * as grpc from '@grpc/grpc-js';

export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError';
  constructor() {
    super('deadline exceeded');
  }
}

export class CallCancelledError extends Error {
  override name = 'CallCancelledError';
  constructor() {
    super('call cancelled by the client');
  }
}

/**
 * An AbortSignal for a server call: aborts when grpc-js cancels the call, which it does at the caller's
 * deadline (grpc-js runs the deadline timer itself: reason DeadlineExceededError) and when the client
 * cancels or goes away (CallCancelledError). No timer of our own per call: the hot path stays lean.
 * `done()` removes the listener.
 */
export function callSignal(
  call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getDeadline' | 'once' | 'removeListener'>,
): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const onCancel = () => {
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    // grpc-js fires its deadline timer a little before the absolute deadline the client computed.
    controller.abort(
      Number.isFinite(at) && Date.now() >= at - DEADLINE_SLACK_MS
        ? new DeadlineExceededError()
        : new CallCancelledError(),
    );
  };
  call.once('cancelled', onCancel);
  return { signal: controller.signal, done: () => call.removeListener('cancelled', onCancel) };
}

const DEADLINE_SLACK_MS = 100;
