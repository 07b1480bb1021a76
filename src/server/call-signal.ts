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
 * An AbortSignal for a server call: aborts at the caller's deadline (reason DeadlineExceededError) or when
 * the client cancels (CallCancelledError). `done()` releases the timer.
 */
export function callSignal(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getDeadline' | 'once' | 'removeListener'>): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(at)) {
    const ms = at - Date.now();
    if (ms <= 0) controller.abort(new DeadlineExceededError());
    else {
      timer = setTimeout(() => controller.abort(new DeadlineExceededError()), ms);
      timer.unref();
    }
  }
  const onCancel = () => controller.abort(new CallCancelledError());
  call.once('cancelled', onCancel);
  return {
    signal: controller.signal,
    done: () => {
      if (timer) clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
    },
  };
}
