import type * as grpc from '@grpc/grpc-js';

/**
 * The bytes a server stream has handed to grpc-js and not yet sent. grpc-js's server stream is an object-mode
 * Writable, so its `writableLength` counts messages, not bytes: this keeps the byte count instead. A write's
 * bytes are counted until grpc-js calls its callback (HTTP/2 has taken the message, within the client's flow-
 * control window); `write()` returning false (grpc-js's buffer is full) is remembered until 'drain', so a
 * handler can wait with `drained()` before writing more.
 */
export class UnsentBytes<Res> {
  readonly #call: grpc.ServerWritableStream<unknown, Res>;
  #bytes = 0;
  #full = false;

  constructor(call: grpc.ServerWritableStream<unknown, Res>) {
    this.#call = call;
  }

  /** Bytes written and not yet sent. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether grpc-js's buffer is full (the last write returned false) and has not drained since. */
  get full(): boolean {
    return this.#full;
  }

  /** Writes `message`, counting `bytes` (see `encodedSizeBound`) until grpc-js has sent it. */
  write(message: Res, bytes: number): void {
    this.#bytes += bytes;
    let released = false;
    const ok = this.#call.write(message, () => {
      if (released) return;
      released = true;
      this.#bytes -= bytes;
    });
    if (!ok) this.#full = true;
  }

  /** Resolves at once unless grpc-js's buffer is full; then on 'drain', or when the call ends. */
  drained(): Promise<void> {
    const call = this.#call;
    if (!this.#full || call.destroyed || call.writableEnded) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const events = ['drain', 'close', 'finish', 'error', 'cancelled'] as const;
      const done = () => {
        for (const e of events) call.off(e, done);
        this.#full = false;
        resolve();
      };
      for (const e of events) call.on(e, done);
    });
  }
}

/**
 * An upper bound of the protobuf encoding of a generated message object (as grpc-js receives it): every string
 * as a field of at most a two-byte tag, a five-byte length and its UTF-8 bytes; every number as at most eleven
 * bytes; nested objects (maps, messages) recursively, with the same framing per entry.
 */
export function encodedSizeBound(message: unknown): number {
  if (typeof message === 'string') return 7 + Buffer.byteLength(message);
  if (typeof message === 'number' || typeof message === 'boolean' || typeof message === 'bigint') return 11;
  if (Buffer.isBuffer(message)) return 7 + message.length;
  if (Array.isArray(message)) return message.reduce<number>((n, m) => n + encodedSizeBound(m), 0);
  if (message !== null && typeof message === 'object') {
    let n = 7;
    for (const [k, v] of Object.entries(message)) n += 7 + Buffer.byteLength(k) + encodedSizeBound(v);
    return n;
  }
  return 0;
}
