import * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { MAX_CONTEXT_ENCODED_BYTES, MAX_CONTEXT_ENTRIES } from '../crypto/encryption-context.js';
import { MAX_ENVELOPE_OVERHEAD } from '../crypto/envelope-format.js';
import { refusalStatus } from './status-codes.js';
import { compileRequestRule, type ScanAnnotations } from './wire-schema.js';
import { scanRequest, WireRefusal, type ScanCounts, type ScanLimits } from './wire-scan.js';

/**
 * Receive limits per method, enforced on the request's bytes before protobufjs decodes them (the wire scan,
 * src/server/wire-scan.ts), so that a refused request costs microseconds instead of the seconds and the
 * memory its decoding would. docs/api.md has the table.
 *
 * Wiring: grpc-js turns any error a deserializer throws into INTERNAL "Error deserializing request", so the
 * deserializer does not throw: it returns a WireRefusal in place of the message, and refusalInterceptor (a
 * grpc-js server interceptor, before any handler) answers it with its own status, RESOURCE_EXHAUSTED for an
 * exceeded limit, INVALID_ARGUMENT for malformed input. A compressed request is scanned after grpc-js has
 * inflated it (grpc-js stops inflating past the server's receive limit, the largest of these), so each
 * method's limit holds for the decompressed bytes.
 */
export interface RequestLimitSettings {
  maxBlockBytes: number;
  batchMaxItems: number;
  batchMaxBytes: number;
}

/** Room for a request's fields besides its block or chunk: tenant, ids, request id, a full context (<= ~37 KiB). */
export const FIELD_ROOM = 64 * 1024;
/** Per batch item: the item's framing, its fields' tags and lengths, and a small context. */
export const BATCH_ITEM_FRAMING = 512;
/**
 * The largest `chunk` of one stream message (the typed client sends 64 KiB by default). Kept small because
 * every open stream reserves room for two messages in the shared stream buffer budget (stream-limits.ts).
 */
export const STREAM_MAX_CHUNK_BYTES = 256 * 1024;
/** Every Admin request (a handful of identifiers, URIs and a reason). */
export const ADMIN_REQUEST_BYTES = 64 * 1024;
/**
 * Any string field: what a whole context may encode to, so no string a request could validly hold is refused
 * here (identifiers are at most 64 bytes, request ids 128, context keys 128 and values 1024, reasons ~4 KiB); a
 * context key or value over its own limit but under this one gets the context check's INVALID_ARGUMENT as before.
 */
export const MAX_STRING_BYTES = MAX_CONTEXT_ENCODED_BYTES;

export interface MethodLimit {
  /** Most bytes of one request message (after decompression), and how it is made up, for the message. */
  bytes: number;
  explain: string;
  annotations?: ScanAnnotations;
  /** A batch: the most payload bytes (summed over items) for a number of items. */
  batch?: { what: string; limit: (items: number) => number; explain: string };
}

/** The Crypto service's limits. */
export function cryptoRequestLimits(s: RequestLimitSettings): Record<string, MethodLimit> {
  const block = {
    bytes: s.maxBlockBytes + FIELD_ROOM,
    explain: `maxBlockBytes ${s.maxBlockBytes} + ${FIELD_ROOM} for the other fields`,
  };
  const envelope = {
    bytes: s.maxBlockBytes + MAX_ENVELOPE_OVERHEAD + FIELD_ROOM,
    explain: `maxBlockBytes ${s.maxBlockBytes} + ${MAX_ENVELOPE_OVERHEAD} of envelope overhead + ${FIELD_ROOM} for the other fields`,
  };
  const stream = {
    bytes: STREAM_MAX_CHUNK_BYTES + FIELD_ROOM,
    explain: `a chunk of at most ${STREAM_MAX_CHUNK_BYTES} + ${FIELD_ROOM} for the other fields`,
    annotations: {
      fields: { chunk: { maxBytes: { bytes: STREAM_MAX_CHUNK_BYTES, name: 'streamMaxChunkBytes' } } },
      oneofs: [['header', 'chunk']],
    },
  };
  const items = `${s.batchMaxItems} items (batchMaxItems)`;
  return {
    Encrypt: block,
    Decrypt: envelope,
    Rewrap: envelope,
    EncryptBatch: {
      bytes: s.batchMaxBytes + s.batchMaxItems * BATCH_ITEM_FRAMING + FIELD_ROOM,
      explain: `batchMaxBytes ${s.batchMaxBytes} + ${BATCH_ITEM_FRAMING} per item for ${items} + ${FIELD_ROOM}`,
      annotations: { fields: { 'items.plaintext': { payload: true } } },
      batch: { what: 'plaintext', limit: () => s.batchMaxBytes, explain: 'batchMaxBytes' },
    },
    DecryptBatch: {
      bytes: s.batchMaxBytes + s.batchMaxItems * (MAX_ENVELOPE_OVERHEAD + BATCH_ITEM_FRAMING) + FIELD_ROOM,
      explain: `batchMaxBytes ${s.batchMaxBytes} + ${MAX_ENVELOPE_OVERHEAD + BATCH_ITEM_FRAMING} per item for ${items} + ${FIELD_ROOM}`,
      annotations: { fields: { 'items.envelope': { payload: true } } },
      batch: {
        what: 'envelope',
        limit: (n) => s.batchMaxBytes + n * MAX_ENVELOPE_OVERHEAD,
        explain: `batchMaxBytes ${s.batchMaxBytes} + ${MAX_ENVELOPE_OVERHEAD} per item`,
      },
    },
    EncryptStream: stream,
    DecryptStream: stream,
  };
}

/** Every Admin method: one small limit. */
export const ADMIN_REQUEST_LIMIT: MethodLimit = { bytes: ADMIN_REQUEST_BYTES, explain: 'the Admin request limit' };

export function scanLimits(s: RequestLimitSettings): ScanLimits {
  return {
    maxItems: s.batchMaxItems,
    maxItemsName: 'batchMaxItems',
    maxMapEntries: MAX_CONTEXT_ENTRIES,
    maxStringBytes: MAX_STRING_BYTES,
  };
}

export type RequestScanner = (buf: Uint8Array) => ScanCounts | WireRefusal;

/** The scan of one method's requests: its byte limit, the wire scan, then its batch payload limit. */
export function requestScanner(
  name: string,
  rule: ReturnType<typeof compileRequestRule>,
  limit: MethodLimit,
  limits: ScanLimits,
): RequestScanner {
  const { bytes, explain, batch } = limit;
  return (buf) => {
    if (buf.length > bytes) {
      return new WireRefusal(
        'resource_exhausted',
        `${name}: request of ${buf.length} bytes exceeds its limit of ${bytes} bytes (${explain})`,
        { name: 'maxRequestBytes', value: bytes },
      );
    }
    const counts = scanRequest(buf, rule, limits, name);
    if (batch && !(counts instanceof WireRefusal)) {
      const max = batch.limit(counts.items);
      if (counts.payload > max) {
        return new WireRefusal(
          'resource_exhausted',
          `${name}: ${counts.payload} ${batch.what} bytes exceed ${max} (${batch.explain})`,
          { name: 'batchMaxBytes', value: max },
        );
      }
    }
    return counts;
  };
}

const SCANNED = Symbol('unwrapd.wireScanned');

/** What the interceptor needs to know of a scanned method: its byte limit, for the length-prefix check. */
interface ScannedMethod {
  name: string;
  bytes: number;
  explain: string;
}

/**
 * Moves a method's byte limit to the message's length prefix: grpc-js's per-call decoder (a private object of
 * its server call) refuses a message whose prefix announces more than its `maxReadMessageLength`, before
 * buffering it, with RESOURCE_EXHAUSTED and the text of the error it throws. Set to the method's own limit, with
 * that error's text replaced by the method's refusal (naming the setting and its value), a request over its
 * method's limit is refused as it starts to arrive, with the same message the scan gives, whatever its size
 * (otherwise one over the listener's receive limit got grpc-js's "Received message larger than max (N vs M)").
 * If a grpc-js upgrade moves the decoder, this does nothing: the listener's receive limit and the scan still
 * hold, only the refusal of the largest requests is grpc-js's own again.
 */
function limitAtLengthPrefix(call: unknown, m: ScannedMethod, onRefused: OnRefused | undefined): void {
  const decoder = (call as { decoder?: { maxReadMessageLength?: unknown; write?: unknown } }).decoder;
  if (typeof decoder !== 'object' || decoder === null) return;
  if (typeof decoder.maxReadMessageLength !== 'number' || typeof decoder.write !== 'function') return;
  const sendStatus = (call as { sendStatus?: unknown }).sendStatus;
  if (typeof sendStatus !== 'function') return;
  const write = (decoder.write as (data: Buffer) => Buffer[]).bind(decoder);
  let refused = false;
  decoder.maxReadMessageLength = m.bytes;
  decoder.write = (data: Buffer) => {
    // Once refused, the rest of the request is dropped: the decoder is mid-message and its state is meaningless.
    if (refused) return [];
    try {
      return write(data);
    } catch (err) {
      const size = /larger than max \((\d+) vs/.exec((err as Error).message)?.[1];
      if (size === undefined) throw err;
      // The refusal is sent here rather than thrown, so that it carries its details (ErrorInfo LIMIT_EXCEEDED,
      // the limit and its value) like every other refusal; grpc-js's own catch would send the text alone.
      refused = true;
      onRefused?.(m.name, grpc.status.RESOURCE_EXHAUSTED);
      const message = `${m.name}: request of ${size} bytes exceeds its limit of ${m.bytes} bytes (${m.explain})`;
      (sendStatus as (s: grpc.StatusObject) => void).call(
        call,
        refusalStatus('resource_exhausted', message, { name: 'maxRequestBytes', value: m.bytes }),
      );
      return [];
    }
  };
}

/**
 * A copy of `service` whose request deserializers scan first and return a WireRefusal instead of decoding
 * what the scan refuses. `limitOf(method)` gives each method's limit.
 */
export function withRequestLimits(
  service: grpc.ServiceDefinition,
  definition: protoLoader.PackageDefinition,
  limitOf: (method: string) => MethodLimit,
  limits: ScanLimits,
): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const limit = limitOf(name);
    const rule = compileRequestRule(
      method as unknown as protoLoader.MethodDefinition<object, object>,
      definition,
      limit.annotations,
    );
    const scan = requestScanner(name, rule, limit, limits);
    const decode = method.requestDeserialize;
    const requestDeserialize = (buf: Buffer) => {
      const scanned = scan(buf);
      return scanned instanceof WireRefusal ? scanned : decode(buf);
    };
    const tag: ScannedMethod = { name, bytes: limit.bytes, explain: limit.explain };
    out[name] = { ...method, requestDeserialize: Object.assign(requestDeserialize, { [SCANNED]: tag }) };
  }
  return out as grpc.ServiceDefinition;
}

/** The largest request any of `service`'s methods accepts: the server-wide receive limit (grpc-js's own check). */
export function largestRequest(service: grpc.ServiceDefinition, limitOf: (method: string) => MethodLimit): number {
  return Math.max(...Object.keys(service).map((m) => limitOf(m).bytes));
}

/** Told of each call refused at the wire (its method, the status sent): metrics count what no handler saw. */
export type OnRefused = (method: string, code: grpc.status) => void;

/**
 * Answers a refused request with its status before any handler sees it, and drops whatever else the call
 * sends; `onRefused` is told of each refusal (the length prefix's and the scan's). Calls of methods without a
 * scan (health, reflection) pass through untouched, at no cost.
 */
export function countingRefusalInterceptor(onRefused: OnRefused | undefined): grpc.ServerInterceptor {
  return (method, call) => {
    const scanned = (method.requestDeserialize as { [SCANNED]?: ScannedMethod })[SCANNED];
    if (scanned === undefined) return call as grpc.ServerInterceptingCall;
    limitAtLengthPrefix(call, scanned, onRefused);
    const state: RefusalState = { call, refused: false, method: scanned.name, onRefused };
    return new grpc.ServerInterceptingCall(call, {
      start: startListening.bind(state),
      sendMessage: sendUnlessRefused.bind(state),
    });
  };
}

/** The interceptor that tells no one of its refusals. */
export const refusalInterceptor: grpc.ServerInterceptor = countingRefusalInterceptor(undefined);

/**
 * Per-call state of the interceptor. Its callbacks are module functions bound to it (grpc-js calls them
 * detached from any object): this runs on every Crypto call, and binding is cheaper than making closures.
 */
interface RefusalState {
  call: grpc.ServerInterceptingCallInterface;
  refused: boolean;
  method: string;
  onRefused: OnRefused | undefined;
}

function startListening(this: RefusalState, next: (listener?: grpc.ServerListener) => void): void {
  next({ onReceiveMessage: receiveMessage.bind(this), onReceiveHalfClose: receiveHalfClose.bind(this) });
}

function receiveMessage(this: RefusalState, message: unknown, pass: (message: unknown) => void): void {
  if (this.refused) return;
  if (!(message instanceof WireRefusal)) return pass(message);
  this.refused = true;
  const status = refusalStatus(message.code, message.message, message.limit);
  this.onRefused?.(this.method, status.code);
  this.call.sendStatus(status);
}

function receiveHalfClose(this: RefusalState, pass: () => void): void {
  if (!this.refused) pass();
}

/**
 * Once a request message of a stream is refused, the handler (already running) may still be writing
 * responses: they are dropped. A response written after the refusal's status would be a write after the
 * HTTP/2 stream's end, and the status's trailers would never go out (the client would wait for its deadline).
 */
function sendUnlessRefused(this: RefusalState, message: unknown, next: (message: unknown) => void): void {
  if (!this.refused) next(message);
}
