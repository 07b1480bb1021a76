import type * as grpc from '@grpc/grpc-js';
import { withErrorDetails } from './error-info.js';

/** Content to stream: a Readable, or any (async) iterable of byte chunks of any size. */
export type StreamSource = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array>;

export interface StreamCallOpts {
  /** Deadline of the whole stream. Default: none (a stream takes as long as its content); use `signal` to stop it. */
  deadlineMs?: number;
  metadata?: grpc.Metadata;
  /** Aborting cancels the call (the server drops the stream and its key at once). */
  signal?: AbortSignal;
  /** Largest chunk message sent; larger source chunks are split. Default 64 KiB. */
  chunkBytes?: number;
}

export const DEFAULT_CHUNK_BYTES = 64 * 1024;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the typed client passes its own typed calls
type AnyCall = grpc.ClientDuplexStream<any, unknown>;

/**
 * The output of EncryptStream / DecryptStream as an async iterable of Buffers (envelope bytes, or plaintext
 * of verified segments), with backpressure both ways: the source is read only as fast as the server takes
 * it, and responses are read only as fast as the consumer iterates (a slow consumer slows the server, it
 * does not make it buffer). Iterate it once. Breaking out of the loop, or an error, cancels the call.
 *
 * For DecryptStream the content is complete and authentic only if the iteration ends without an error:
 * discard everything received from a stream that failed.
 */
export class ContentStream implements AsyncIterable<Buffer> {
  /** Set from the first response: the policy version the content is under. */
  keyVersion: number | undefined;
  /** DecryptStream: the policy the envelope names (from the first response). */
  policyId: string | undefined;
  /** Bytes sent to and received from the server so far (for progress). */
  bytesSent = 0;
  bytesReceived = 0;
  readonly #start: () => AnyCall;
  readonly #first: unknown;
  readonly #source: StreamSource;
  readonly #opts: StreamCallOpts;
  readonly #pick: (res: unknown, self: ContentStream) => Buffer;
  #used = false;

  constructor(
    start: () => AnyCall,
    first: unknown,
    source: StreamSource,
    opts: StreamCallOpts,
    pick: (res: unknown, self: ContentStream) => Buffer,
  ) {
    this.#start = start;
    this.#first = first;
    this.#source = source;
    this.#opts = opts;
    this.#pick = pick;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.#used) throw new Error('a ContentStream can be iterated once');
    this.#used = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<Buffer, void, undefined> {
    const call = this.#start();
    const chunkBytes = this.#opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    let writerError: unknown;
    let finished = false;
    const onAbort = () => call.cancel();
    this.#opts.signal?.addEventListener('abort', onAbort);
    if (this.#opts.signal?.aborted) call.cancel();
    // Sends the header, then the source in chunks. A failed send means the call ended (its status reaches
    // the reader below); a failing source is the cause to report, and cancels the call.
    const source = isAsyncIterable(this.#source)
      ? this.#source[Symbol.asyncIterator]()
      : this.#source[Symbol.iterator]();
    let writing = true;
    const writer = (async () => {
      try {
        await send(call, this.#first);
        for (;;) {
          const step = await source.next();
          if (step.done) break;
          const piece = step.value;
          const buf =
            typeof piece === 'string'
              ? Buffer.from(piece)
              : Buffer.isBuffer(piece)
                ? piece
                : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
          for (let off = 0; off < buf.length; off += chunkBytes) {
            if (finished) return;
            const chunk = buf.subarray(off, off + chunkBytes);
            await send(call, { chunk });
            this.bytesSent += chunk.length;
          }
        }
        // The end of the content; not when the consumer gave up meanwhile (the call is cancelled instead).
        if (!finished) call.end();
      } catch (err) {
        if (!finished && !(err instanceof SendError)) {
          writerError ??= err;
          call.cancel();
        }
      } finally {
        writing = false;
      }
    })();
    try {
      for await (const res of call as AsyncIterable<unknown>) {
        const data = this.#pick(res, this);
        this.bytesReceived += data.length;
        if (data.length > 0) yield data;
      }
      finished = true;
      await writer;
    } catch (err) {
      // The source failing is the cause; the CANCELLED status it led to is not.
      throw writerError ?? withErrorDetails(err);
    } finally {
      finished = true;
      this.#opts.signal?.removeEventListener('abort', onAbort);
      call.cancel(); // no-op once the call has ended; stops the server at once if the consumer gave up
      // A source still being read (the call ended early): let it go (a file stream is closed by this).
      if (writing) Promise.resolve(source.return?.()).catch(() => {});
    }
  }
}

/** A write that could not happen because the call had ended; the call's own status says why. */
class SendError extends Error {
  constructor() {
    super('the stream ended');
  }
}

/** Writes one message, waiting for the call's buffer to drain when it is full; rejects if the call ends. */
function send(call: AnyCall, msg: unknown): Promise<void> {
  if (call.destroyed || call.writableEnded) return Promise.reject(new SendError());
  if (call.write(msg)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      call.off('drain', onDrain);
      call.off('error', onError);
      call.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onError = () => done(new SendError());
    const onClose = () => done(new SendError());
    call.on('drain', onDrain);
    call.on('error', onError);
    call.on('close', onClose);
  });
}

function isAsyncIterable(s: StreamSource): s is AsyncIterable<Uint8Array | string> {
  return typeof (s as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}
