import { ConfigError } from '../config/config-error.js';
import { HTTP2_DEFAULT_WINDOW_BYTES } from '../config/settings-streams.js';
import { UnwrapdError } from '../errors.js';
import { FIELD_ROOM, STREAM_MAX_CHUNK_BYTES } from './request-limits.js';

/**
 * What every open stream is charged from its admission to its end, whatever it does: the request bytes the
 * transport holds for it beyond what the handler has taken. grpc-js keeps one message decoded ahead of the
 * handler (its Readable is limited to one message by src/server/stream-io.ts) and decodes the next one, each
 * at most a chunk plus its fields; HTTP/2 adds the stream's receive window (`http2StreamWindowBytes`): Node
 * keeps accepting DATA up to the window while grpc-js has the stream paused (pausing only holds back
 * WINDOW_UPDATE). Without this reservation a stalled stream would hold about two messages and a window that
 * the budget does not see.
 */
export function streamReservedBytes(streamWindowBytes: number): number {
  return 2 * (STREAM_MAX_CHUNK_BYTES + FIELD_ROOM) + streamWindowBytes;
}

/** The reservation with HTTP/2's default window (704 KiB less a byte). */
export const STREAM_RESERVED_BYTES = streamReservedBytes(HTTP2_DEFAULT_WINDOW_BYTES);

/**
 * The bounds every stream (EncryptStream, DecryptStream) lives under, shared by all connections of a listener:
 *
 * - `maxStreams`: streams open at once, across connections (HTTP/2's per-connection limit is grpc-js's).
 * - `idleTimeoutMs`: how long a stream may make no progress while it waits on its client: no message from
 *   it, or no response taken by it (a client that never reads). Time spent on the server's own work (a key
 *   unwrap) does not count.
 * - `maxLifetimeMs`: how long a stream may stay open at all.
 * - `bufferBudgetBytes`: ONE budget of buffered bytes for all streams together: each stream's reservation for
 *   the transport (streamReservedBytes() of `streamWindowBytes`, from admission to end), the capacity of its
 *   segment buffer, the message being processed, and responses handed to the transport and not yet sent. A
 *   stream whose reservation does not fit is refused at admission.
 *
 * Over any bound the offending stream ends with RESOURCE_EXHAUSTED naming the limit and its value, and is
 * released like any other ending stream (keys and buffers zeroized); the others carry on. Unary calls never
 * come here: no timer or counter is added to their path.
 */
export interface StreamLimitOptions {
  maxStreams: number;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
  bufferBudgetBytes: number;
  /**
   * The HTTP/2 receive window each stream is given (src/server/connection-options.ts); the reservation follows
   * it. Default: HTTP/2's 65,535 bytes.
   */
  streamWindowBytes?: number;
}

export interface StreamLimitStats {
  open: number;
  bufferedBytes: number;
  peakBufferedBytes: number;
  /** Streams refused or ended by a bound, by the setting that bounded them. */
  refused: Record<LimitName, number>;
}

type LimitName = 'maxStreams' | 'streamIdleTimeoutMs' | 'streamMaxLifetimeMs' | 'streamBufferBudgetBytes';

/** A stream ended or refused by one of its bounds (RESOURCE_EXHAUSTED). */
export class StreamLimitError extends UnwrapdError {
  readonly limit: LimitName;
  constructor(limit: LimitName, message: string, value?: number) {
    super('resource_exhausted', message, { reason: 'LIMIT_EXCEEDED', metadata: { limit, limit_value: value } });
    this.limit = limit;
  }
}

export class StreamLimits {
  readonly options: StreamLimitOptions;
  /** What each open stream is charged for the transport, from admission to end (streamReservedBytes()). */
  readonly reservedBytes: number;
  #open = 0;
  #buffered = 0;
  #peak = 0;
  readonly #refused: Record<LimitName, number> = {
    maxStreams: 0,
    streamIdleTimeoutMs: 0,
    streamMaxLifetimeMs: 0,
    streamBufferBudgetBytes: 0,
  };

  /** Throws a ConfigError when the budget cannot hold one stream's reservation (no stream could ever open). */
  constructor(options: StreamLimitOptions) {
    this.options = options;
    this.reservedBytes = streamReservedBytes(options.streamWindowBytes ?? HTTP2_DEFAULT_WINDOW_BYTES);
    if (options.bufferBudgetBytes < this.reservedBytes)
      throw new ConfigError(
        `streamBufferBudgetBytes (${options.bufferBudgetBytes}) is below what one stream reserves with ` +
          `http2StreamWindowBytes ${options.streamWindowBytes ?? HTTP2_DEFAULT_WINDOW_BYTES} (${this.reservedBytes} ` +
          'bytes): no stream could be admitted; raise the budget or lower the window',
        'streamBufferBudgetBytes',
      );
  }

  stats(): StreamLimitStats {
    return {
      open: this.#open,
      bufferedBytes: this.#buffered,
      peakBufferedBytes: this.#peak,
      refused: { ...this.#refused },
    };
  }

  /**
   * Admits one more stream, or throws (maxStreams). `onExceeded` is told, once, when a timer bound ends the
   * stream (idle, lifetime); the budget throws from charge() instead, in the stream that asked for the bytes.
   */
  admit(onExceeded: (err: StreamLimitError) => void): StreamGuard {
    if (this.#open >= this.options.maxStreams) {
      throw this.#exceeded('maxStreams', `too many streams open: ${this.options.maxStreams} (maxStreams)`);
    }
    if (!this._fits(this.reservedBytes))
      throw this.#exceeded('streamBufferBudgetBytes', budgetMessage(this.options.bufferBudgetBytes));
    this.#open++;
    const guard = new StreamGuard(this, onExceeded);
    guard.charge(this.reservedBytes);
    return guard;
  }

  /** @internal StreamGuard's accounting. */
  _charge(delta: number): void {
    this.#buffered += delta;
    if (this.#buffered > this.#peak) this.#peak = this.#buffered;
  }

  /** @internal */
  _fits(delta: number): boolean {
    return this.#buffered + delta <= this.options.bufferBudgetBytes;
  }

  /** @internal */
  _close(): void {
    this.#open--;
  }

  /** @internal */
  _exceeded(limit: LimitName, message: string): StreamLimitError {
    return this.#exceeded(limit, message);
  }

  #exceeded(limit: LimitName, message: string): StreamLimitError {
    this.#refused[limit]++;
    const o = this.options;
    const values = {
      maxStreams: o.maxStreams,
      streamIdleTimeoutMs: o.idleTimeoutMs,
      streamMaxLifetimeMs: o.maxLifetimeMs,
    };
    return new StreamLimitError(
      limit,
      message,
      limit === 'streamBufferBudgetBytes' ? o.bufferBudgetBytes : values[limit],
    );
  }
}

/**
 * One admitted stream's share of the bounds: its charge on the buffer budget, an idle timer armed only while
 * the stream waits on its client, and a lifetime timer. Both timers are one Node timer each for the whole
 * stream (re-armed with refresh(), never re-created per message). release() returns everything; idempotent.
 */
export class StreamGuard {
  readonly #limits: StreamLimits;
  readonly #onExceeded: (err: StreamLimitError) => void;
  readonly #lifetime: NodeJS.Timeout | undefined;
  #idle: NodeJS.Timeout | undefined;
  #waiting = false;
  #charged = 0;
  #held = 0;
  #released = false;
  #exceeded: StreamLimitError | undefined;

  constructor(limits: StreamLimits, onExceeded: (err: StreamLimitError) => void) {
    this.#limits = limits;
    this.#onExceeded = onExceeded;
    const { maxLifetimeMs } = limits.options;
    if (maxLifetimeMs > 0) {
      this.#lifetime = setTimeout(
        () => this.#end('streamMaxLifetimeMs', `stream open longer than ${maxLifetimeMs} ms (streamMaxLifetimeMs)`),
        maxLifetimeMs,
      );
      this.#lifetime.unref();
    }
  }

  /** The bound that ended the stream, if one did. */
  get exceeded(): StreamLimitError | undefined {
    return this.#exceeded;
  }

  /** Bytes this stream holds against the budget now. */
  get charged(): number {
    return this.#charged;
  }

  /**
   * Changes this stream's charge by `delta` bytes. Growing beyond the shared budget throws (the stream ends,
   * nothing is charged); shrinking always succeeds.
   */
  charge(delta: number): void {
    if (this.#released || delta === 0) return;
    if (delta > 0 && !this.#limits._fits(delta)) {
      throw (this.#exceeded ??= this.#limits._exceeded(
        'streamBufferBudgetBytes',
        budgetMessage(this.#limits.options.bufferBudgetBytes),
      ));
    }
    this.#charged += delta;
    this.#limits._charge(delta);
  }

  /** Sets the request bytes this stream holds to `bytes`, on top of its pending responses (see charge()). */
  holding(bytes: number): void {
    this.charge(bytes - this.#held);
    this.#held = bytes;
  }

  /**
   * The stream waits on its client (a read with no message yet, a write the client has not taken): the idle
   * clock runs. Called again on progress within one wait, it restarts the clock.
   */
  waiting(): void {
    const { idleTimeoutMs } = this.#limits.options;
    if (this.#released || idleTimeoutMs <= 0) return;
    this.#waiting = true;
    if (this.#idle) this.#idle.refresh();
    else {
      this.#idle = setTimeout(() => {
        if (this.#waiting)
          this.#end('streamIdleTimeoutMs', `stream idle for ${idleTimeoutMs} ms (streamIdleTimeoutMs)`);
      }, idleTimeoutMs);
      this.#idle.unref();
    }
  }

  /** The wait is over (a message came, a write was taken): the idle clock stops. */
  progressed(): void {
    this.#waiting = false;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    clearTimeout(this.#idle);
    clearTimeout(this.#lifetime);
    this.#limits._charge(-this.#charged);
    this.#charged = 0;
    this.#limits._close();
  }

  #end(limit: LimitName, message: string): void {
    if (this.#released || this.#exceeded) return;
    this.#exceeded = this.#limits._exceeded(limit, message);
    this.#onExceeded(this.#exceeded);
  }
}

function budgetMessage(budget: number): string {
  return `stream buffers over the shared budget of ${budget} bytes (streamBufferBudgetBytes)`;
}
