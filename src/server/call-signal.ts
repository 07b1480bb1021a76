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

/** What callSignal and LazyCallSignal read of a call. */
type SignalCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getDeadline' | 'once' | 'removeListener'> & {
  readonly cancelled?: boolean;
};

/**
 * An AbortSignal for a server call: aborts when grpc-js cancels the call, which it does at the caller's
 * deadline (grpc-js runs the deadline timer itself: reason DeadlineExceededError) and when the client
 * cancels or goes away (CallCancelledError). No timer of our own per call: the hot path stays lean.
 * `done()` removes the listener.
 */
export function callSignal(call: SignalCall): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const onCancel = () => controller.abort(cancelReason(call));
  call.once('cancelled', onCancel);
  return { signal: controller.signal, done: () => call.removeListener('cancelled', onCancel) };
}

/**
 * callSignal made on first use: a cache-hit call never waits on anything, so it never reads its signal, and
 * pays for no AbortController and no listener. Read after the call was cancelled, the signal is already
 * aborted, with the reason callSignal's would have.
 */
export class LazyCallSignal {
  readonly #call: SignalCall;
  #controller: AbortController | undefined;
  #onCancel: (() => void) | undefined;

  constructor(call: SignalCall) {
    this.#call = call;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = (this.#controller = new AbortController());
      if (this.#call.cancelled === true) controller.abort(cancelReason(this.#call));
      else {
        const call = this.#call;
        this.#onCancel = () => {
          this.#onCancel = undefined;
          controller.abort(cancelReason(call));
        };
        call.once('cancelled', this.#onCancel);
      }
    }
    return this.#controller.signal;
  }

  /** The call is over: the listener (if any) goes. */
  done(): void {
    if (this.#onCancel === undefined) return;
    this.#call.removeListener('cancelled', this.#onCancel);
    this.#onCancel = undefined;
  }
}

function cancelReason(call: SignalCall): Error {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  // grpc-js fires its deadline timer a little before the absolute deadline the client computed.
  return Number.isFinite(at) && Date.now() >= at - DEADLINE_SLACK_MS
    ? new DeadlineExceededError()
    : new CallCancelledError();
}

const DEADLINE_SLACK_MS = 100;
