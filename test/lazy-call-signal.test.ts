import test from 'ava';
import { EventEmitter } from 'node:events';
import { CallCancelledError, DeadlineExceededError, LazyCallSignal } from '../src/server/call-signal.js';

type SignalCall = ConstructorParameters<typeof LazyCallSignal>[0];

/** What LazyCallSignal reads of a grpc-js call: cancelled, getDeadline, once/removeListener('cancelled'). */
class FakeCall extends EventEmitter {
  cancelled = false;
  constructor(private readonly deadline: number = Infinity) {
    super();
  }
  getDeadline(): number {
    return this.deadline;
  }
  cancel(): void {
    this.cancelled = true;
    this.emit('cancelled', 'cancelled');
  }
}

test('no listener and no controller until the signal is read; done() before then is a no-op', (t) => {
  const call = new FakeCall();
  const lazy = new LazyCallSignal(call as unknown as SignalCall);
  t.is(call.listenerCount('cancelled'), 0);
  lazy.done();
  t.is(call.listenerCount('cancelled'), 0);
});

test('read before a cancel: aborts with CallCancelledError when the client cancels; the same signal each read', (t) => {
  const call = new FakeCall();
  const lazy = new LazyCallSignal(call as unknown as SignalCall);
  const signal = lazy.signal;
  t.is(lazy.signal, signal);
  t.is(call.listenerCount('cancelled'), 1);
  t.false(signal.aborted);
  call.cancel();
  t.true(signal.aborted);
  t.true(signal.reason instanceof CallCancelledError);
  t.is(call.listenerCount('cancelled'), 0);
});

test('read after the call was cancelled: already aborted, no listener left behind', (t) => {
  const call = new FakeCall(Date.now() - 1000);
  const lazy = new LazyCallSignal(call as unknown as SignalCall);
  call.cancel();
  const signal = lazy.signal;
  t.true(signal.aborted);
  t.true(signal.reason instanceof DeadlineExceededError);
  t.is(call.listenerCount('cancelled'), 0);
});

test('done() removes the listener: a later cancel does not abort', (t) => {
  const call = new FakeCall();
  const lazy = new LazyCallSignal(call as unknown as SignalCall);
  const signal = lazy.signal;
  lazy.done();
  t.is(call.listenerCount('cancelled'), 0);
  call.cancel();
  t.false(signal.aborted);
});
