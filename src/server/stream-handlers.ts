import type * as grpc from '@grpc/grpc-js';
import type { StreamService } from '../core/stream-service.js';
import { invalidArgument } from '../errors.js';
import type { DecryptStreamRequest__Output } from '../generated/unwrapd/v1/DecryptStreamRequest.js';
import type { DecryptStreamResponse } from '../generated/unwrapd/v1/DecryptStreamResponse.js';
import type { EncryptStreamRequest__Output } from '../generated/unwrapd/v1/EncryptStreamRequest.js';
import type { EncryptStreamResponse } from '../generated/unwrapd/v1/EncryptStreamResponse.js';
import type { StreamHeader__Output } from '../generated/unwrapd/v1/StreamHeader.js';
import type { Logger } from '../log/logger.js';
import { RequestContext } from '../log/request-context.js';
import { callSignal } from './call-signal.js';
import { cryptoCaller, type CallerChecks } from './crypto-caller.js';
import { requireId } from './request-fields.js';
import { failed } from './unary.js';
import { StreamIO } from './stream-io.js';
import type { EncryptStreamWire } from './response-wire.js';
import { resetCallStream } from './http2-stream.js';
import { StreamLimitError, type StreamGuard, type StreamLimits } from './stream-limits.js';

export interface StreamDeps extends CallerChecks {
  streams: StreamService;
  /** Streams open at once, idle and lifetime bounds, the shared buffer budget (src/server/stream-limits.ts). */
  streamLimits: StreamLimits;
}

type StreamRequest = EncryptStreamRequest__Output | DecryptStreamRequest__Output;

/**
 * EncryptStream / DecryptStream: thin handlers over core/stream-service.ts. The first message is a
 * StreamHeader, later ones carry `chunk` bytes in any split. Each response carries one segment (encrypt:
 * the envelope header first, then sealed segments; decrypt: the plaintext of each verified segment). The
 * stream honours the caller's deadline and cancellation, and backpressure both ways (src/server/stream-io.ts).
 * A Revoke of the stream's policy ends it at once, even idle, with FAILED_PRECONDITION (core/stream-service.ts).
 * Every stream lives under the bounds of stream-limits.ts: over one, RESOURCE_EXHAUSTED naming it. The bytes
 * a stream holds (the message being processed, a partial segment) are charged to the shared buffer budget.
 */
export function streamHandlers(deps: StreamDeps, log: Logger) {
  return {
    EncryptStream: bidi<EncryptStreamRequest__Output, EncryptStreamResponse>(
      'EncryptStream',
      deps,
      log,
      async (io, signal, call, ctx) => {
        const header = requireHeader(await io.read(), 'EncryptStream');
        const { caller, ...c } = cryptoCaller(deps, ctx, header, signal, call);
        const policyId = requireId(header.policyId, 'policy_id');
        if (caller.policies) deps.access.policy(caller, c.tenant, policyId, 'EncryptStream');
        const session = await deps.streams.openEncrypt({ ...c, policyId, onEnded: (err) => io.interrupt(err) });
        try {
          const keyVersion = session.keyVersion;
          // A segment goes out as its [ciphertext, tag], joined only by the response encoder (response-wire.ts).
          const send = (data: Buffer | [Buffer, Buffer]) => {
            io.holding(session.heldBytes); // what the segment consumed is no longer held
            const wire: EncryptStreamWire = { data, keyVersion };
            return io.write(
              wire as EncryptStreamResponse,
              Buffer.isBuffer(data) ? data.length : data[0].length + data[1].length,
            );
          };
          await send(session.header);
          for (let msg = await io.read(); msg !== null; msg = await io.read()) {
            const chunk = requireChunk(msg);
            io.holding(session.heldBytes + chunk.length);
            for (const segment of session.push(chunk)) await send(segment);
            io.holding(session.heldBytes);
          }
          await send(session.final());
        } finally {
          session.close();
        }
      },
    ),
    DecryptStream: bidi<DecryptStreamRequest__Output, DecryptStreamResponse>(
      'DecryptStream',
      deps,
      log,
      async (io, signal, call, ctx) => {
        const header = requireHeader(await io.read(), 'DecryptStream');
        if (header.policyId) throw invalidArgument('DecryptStream takes no policy_id: the envelope names its policy');
        const { caller, ...c } = cryptoCaller(deps, ctx, header, signal, call);
        // A policy-limited caller: the envelope's policy is checked from its header, before any key is unwrapped.
        const authorize = caller.policies
          ? (h: { policyId: string }) => deps.access.policy(caller, c.tenant, h.policyId, 'DecryptStream')
          : undefined;
        const session = deps.streams.openDecrypt({
          ...c,
          onEnded: (err) => io.interrupt(err),
          ...(authorize ? { authorize } : {}),
        });
        try {
          let first = true;
          const send = (plaintext: Buffer) => {
            io.holding(session.heldBytes); // what the segment consumed is no longer held
            if (!first) return io.write({ plaintext }, plaintext.length);
            first = false;
            return io.write(
              { plaintext, policyId: session.header?.policyId ?? '', keyVersion: session.header?.keyVersion ?? 0 },
              plaintext.length,
            );
          };
          for (let msg = await io.read(); msg !== null; msg = await io.read()) {
            let bytes: Buffer | undefined = requireChunk(msg);
            io.holding(session.heldBytes + bytes.length);
            if (!session.ready) bytes = await session.readHeader(bytes);
            if (bytes !== undefined) for (const plaintext of session.push(bytes)) await send(plaintext);
            io.holding(session.heldBytes);
          }
          await send(session.final());
        } finally {
          session.close();
        }
      },
    ),
  };
}

function requireHeader(msg: StreamRequest | null, method: string): StreamHeader__Output {
  if (msg === null) throw invalidArgument(`${method} needs a header message first; the stream was empty`);
  if (msg.message !== 'header' || !msg.header) throw invalidArgument(`the first message of ${method} must be a header`);
  return msg.header;
}

function requireChunk(msg: StreamRequest): Buffer {
  if (msg.message === 'header') throw invalidArgument('a stream has exactly one header, in its first message');
  return msg.chunk ?? Buffer.alloc(0);
}

/**
 * Runs a bidi handler body: a call signal (deadline, cancellation), a StreamIO, and the end of the call: OK
 * once the body returns, else its error mapped through status-codes.ts. A call already gone (cancelled,
 * deadline: grpc-js has answered) gets nothing more. Listeners and timers are released either way.
 */
function bidi<Req, Res>(
  method: string,
  deps: StreamDeps,
  log: Logger,
  body: (
    io: StreamIO<Req, Res>,
    signal: AbortSignal,
    call: grpc.ServerDuplexStream<Req, Res>,
    ctx: RequestContext,
  ) => Promise<void>,
): grpc.handleBidiStreamingCall<Req, Res> {
  return (call) => {
    // The request id comes with the header message (adopted then); until then the x-request-id header or a new one.
    const ctx = new RequestContext(method, log, call.metadata);
    // Admission first: a stream over maxStreams costs nothing more than its refusal.
    let io: StreamIO<Req, Res> | undefined;
    let guard: StreamGuard;
    try {
      guard = deps.streamLimits.admit((exceeded) => io?.interrupt(exceeded));
    } catch (err) {
      call.emit('error', failed(err, ctx));
      return;
    }
    // callSignal uses only getDeadline, once('cancelled') and removeListener, which a duplex call has too.
    const { signal, done } = callSignal(call as unknown as Parameters<typeof callSignal>[0]);
    io = new StreamIO<Req, Res>(call, signal, {
      maxPendingBytes: deps.streams.maxPendingWriteBytes,
      onPending: (delta) => deps.streams.notePendingWrite(delta),
      guard,
    });
    const finish = (err?: unknown) => {
      const behind = io.clientBehind;
      done();
      io.close();
      guard.release();
      if (call.destroyed || call.cancelled) return;
      if (err === undefined) return void call.end();
      // A stream ended by a Revoke reports why (its key was destroyed under whatever the handler was doing).
      const cause = signal.aborted ? signal.reason : (io.interruptedBy ?? err);
      if (cause instanceof StreamLimitError) {
        ctx.log.warn('stream ended by a limit', { limit: cause.limit, detail: cause.message });
        // A client that does not read would never get the status (it waits behind unsent responses), and
        // those would stay buffered: reset the stream instead (clients see RESOURCE_EXHAUSTED).
        if (behind && resetCallStream(call)) return;
      }
      call.emit('error', failed(cause, ctx));
    };
    body(io, signal, call, ctx).then(
      () => finish(),
      (err: unknown) => finish(err ?? new Error('stream failed')),
    );
  };
}
