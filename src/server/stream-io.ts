import type * as grpc from '@grpc/grpc-js';
import { CallCancelledError } from './call-signal.js';
import type { StreamGuard } from './stream-limits.js';

export interface StreamIOOptions {
  /** Response bytes handed to grpc-js and not yet sent, beyond which write() waits (backpressure). */
  maxPendingBytes: number;
  /** Told of every change of the pending bytes (memory accounting). */
  onPending?: (delta: number) => void;
  /**
   * The stream's bounds (src/server/stream-limits.ts): pending bytes are charged to the shared buffer budget
   * (a write beyond it throws RESOURCE_EXHAUSTED), and the idle clock runs while read() or write() waits on
   * the client.
   */
  guard?: StreamGuard;
}

/**
 * Pull-based reading and backpressured writing of a server bidi stream, for handlers that process a stream
 * message by message:
 *
 * - read() takes one message at a time (`call.read()`, never flowing mode), so a handler that is waiting on a
 *   write is not reading: grpc-js then stops asking the HTTP/2 stream for data once its small read-ahead is
 *   full, the flow-control window closes, and the client's writes wait. A slow reader on the other side thus
 *   never makes this server buffer the content.
 * - write() resolves once the response is handed over and the bytes not yet sent (grpc-js calls a write's
 *   callback when HTTP/2 has taken it, within the peer's window) are below `maxPendingBytes`, and grpc-js's
 *   own buffer has drained.
 * - Both reject as soon as the call ends underneath (client cancel, deadline: `signal`'s reason) and never
 *   leave listeners behind: close() removes them and forgets pending bytes whose callbacks will not come.
 *
 * Unlike `for await (const m of call)`, giving up never destroys the call, so the handler can still send
 * its error status.
 *
 * With a guard, a wait on the client (no message yet; a write not taken) runs the stream's idle clock, and
 * every response byte not yet sent is charged to the shared buffer budget before it is handed over.
 */
export class StreamIO<Req, Res> {
  readonly #call: grpc.ServerDuplexStream<Req, Res>;
  readonly #signal: AbortSignal;
  readonly #opts: StreamIOOptions;
  #pending = 0;
  #needDrain = false;
  /** Counts write callbacks and drains: what the client took, for the idle clock. */
  #taken = 0;
  #ended = false;
  #closed = false;
  #interrupted: { reason: unknown } | undefined;
  #wake: (() => void) | undefined;
  readonly #listeners: [string, () => void][];

  constructor(call: grpc.ServerDuplexStream<Req, Res>, signal: AbortSignal, opts: StreamIOOptions) {
    this.#call = call;
    this.#signal = signal;
    this.#opts = opts;
    const wake = () => {
      const w = this.#wake;
      this.#wake = undefined;
      w?.();
    };
    this.#listeners = [
      ['readable', wake],
      ['end', () => ((this.#ended = true), wake())],
      ['drain', () => ((this.#needDrain = false), this.#taken++, wake())],
      ['close', () => ((this.#closed = true), wake())],
      ['error', () => ((this.#closed = true), wake())],
    ];
    for (const [event, fn] of this.#listeners) call.on(event, fn);
    limitReadAhead(call);
    signal.addEventListener('abort', wake);
    this.#listeners.push(['abort', wake]);
  }

  /**
   * Request bytes the handler holds now (a message being processed, a partial segment), charged to the
   * shared buffer budget alongside the pending responses; throws RESOURCE_EXHAUSTED beyond it.
   */
  holding(bytes: number): void {
    this.#opts.guard?.holding(bytes);
  }

  /** Whether responses wait for the client: written and not yet sent, or grpc-js's buffer is full. */
  get clientBehind(): boolean {
    return this.#pending > 0 || this.#needDrain;
  }

  /** Bytes of responses written and not yet sent. */
  get pendingBytes(): number {
    return this.#pending;
  }

  /** The next message, or null once the client has half-closed. */
  async read(): Promise<Req | null> {
    const guard = this.#opts.guard;
    let waiting = false;
    try {
      for (;;) {
        this.#throwIfGone();
        const msg = this.#call.read() as Req | null;
        if (msg !== null) return msg;
        if (this.#ended || this.#call.readableEnded) return null;
        // Only a whole message is progress: a client trickling one slowly stays idle.
        if (!waiting) guard?.waiting();
        waiting = true;
        await this.#sleep();
      }
    } finally {
      if (waiting) guard?.progressed();
    }
  }

  /** Writes one response of `bytes` payload bytes; resolves when more may be written. */
  async write(response: Res, bytes: number): Promise<void> {
    this.#throwIfGone();
    this.#add(bytes); // throws over the buffer budget: nothing was handed over
    const ok = this.#call.write(response, () => {
      if (this.#closed && this.#pending === 0) return;
      this.#add(-bytes);
      this.#taken++;
      const w = this.#wake;
      this.#wake = undefined;
      w?.();
    });
    if (!ok) this.#needDrain = true;
    if (!this.#needDrain && this.#pending <= this.#opts.maxPendingBytes) return;
    // The client has not taken what was sent: wait for 'drain' and the callbacks, on the idle clock, which
    // restarts whenever the client takes something.
    const guard = this.#opts.guard;
    let seen = -1;
    try {
      while (this.#needDrain || this.#pending > this.#opts.maxPendingBytes) {
        this.#throwIfGone();
        if (seen !== this.#taken) guard?.waiting();
        seen = this.#taken;
        await this.#sleep();
      }
    } finally {
      guard?.progressed();
    }
  }

  /**
   * Ends the handler's reading and writing from outside (a Revoke ended the stream's key): the pending and every
   * later read() or write() rejects with `reason`, at once, even while idle.
   */
  interrupt(reason: unknown): void {
    this.#interrupted ??= { reason };
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** The reason given to interrupt(), if it was called. */
  get interruptedBy(): unknown {
    return this.#interrupted?.reason;
  }

  /** Removes every listener and forgets pending bytes (their callbacks do not come once a call is cancelled). */
  close(): void {
    if (this.#listeners.length === 0) return;
    for (const [event, fn] of this.#listeners.splice(0)) {
      if (event === 'abort') this.#signal.removeEventListener('abort', fn);
      else this.#call.removeListener(event, fn);
    }
    this.#add(-this.#pending);
    this.#closed = true;
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #add(delta: number): void {
    if (delta === 0) return;
    this.#opts.guard?.charge(delta);
    this.#pending += delta;
    this.#opts.onPending?.(delta);
  }

  #throwIfGone(): void {
    if (this.#interrupted) throw this.#interrupted.reason;
    if (this.#signal.aborted) throw this.#signal.reason;
    if (this.#closed || this.#call.destroyed) throw new CallCancelledError();
  }

  #sleep(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
  }
}

/**
 * grpc-js's server stream is an object-mode Readable with the default high-water mark of 16 messages: it would
 * ask the transport for up to 16 messages ahead of a handler that reads one at a time, each up to a stream
 * chunk, none of them charged to the stream buffer budget. One message ahead is what each stream's
 * reservation covers (streamReservedBytes() in stream-limits.ts, StreamLimits.reservedBytes). The Readable's
 * state is Node's, stable since Node 10; a version without it keeps the default, and
 * test/stream-readahead.test.ts fails.
 */
function limitReadAhead(call: object): void {
  const state = (call as { _readableState?: { highWaterMark?: number; objectMode?: boolean } })._readableState;
  if (state?.objectMode && typeof state.highWaterMark === 'number') state.highWaterMark = 1;
}
