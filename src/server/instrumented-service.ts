import * as grpc from '@grpc/grpc-js';
import type { RpcScope, Telemetry, TraceHeaders } from '../telemetry/telemetry.js';
import type { OnRefused } from './request-limits.js';

/**
 * What counts the calls refused at the wire (src/server/request-limits.ts), which never reach an instrumented
 * handler: unwrapd_rpc_refused_total by method and status name. None with telemetry off.
 */
export function refusalCounter(telemetry: Telemetry | undefined): OnRefused | undefined {
  if (!telemetry?.enabled) return undefined;
  return (method, code) => telemetry.refused(method, grpc.status[code] ?? String(code));
}

/**
 * The RPC edge's telemetry, by hand (no generic gRPC instrumentation): every method of a service gets its
 * duration and status code, a span when sampled (W3C trace context from the call's metadata) inside which
 * the handler runs, its payload bytes, and the batches and streams in flight. With telemetry off the
 * implementation is returned as it is.
 */
export function instrumentService(
  service: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
  serviceName: string,
  telemetry: Telemetry,
): grpc.UntypedServiceImplementation {
  if (!telemetry.enabled) return implementation;
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(service)) {
    const handler = implementation[name];
    if (!handler) continue;
    if (!method.requestStream && !method.responseStream)
      out[name] = unaryHandler(name, serviceName, handler as grpc.handleUnaryCall<unknown, unknown>, telemetry);
    else
      out[name] = streamingHandler(
        name,
        serviceName,
        handler as (call: grpc.ServerWritableStream<unknown, unknown>) => void,
        method.requestStream,
        telemetry,
      );
  }
  return out;
}

function unaryHandler(
  name: string,
  service: string,
  handler: grpc.handleUnaryCall<unknown, unknown>,
  telemetry: Telemetry,
): grpc.handleUnaryCall<unknown, unknown> {
  const batch = name.endsWith('Batch');
  return (call, callback) => {
    const scope = telemetry.rpc(service, name, traceHeaders(call.metadata));
    const bytesIn = payloadBytes(call.request);
    if (batch) telemetry.inFlight('batches', 1);
    const done: grpc.sendUnaryData<unknown> = (err, value, ...rest) => {
      if (batch) telemetry.inFlight('batches', -1);
      scope.end(codeName(err), bytesIn, err ? 0 : payloadBytes(value));
      callback(err, value, ...rest);
    };
    scope.run(() => handler(call, done));
  };
}

/** Server streams (WatchEvents) and bidi streams (EncryptStream, DecryptStream): ended by end, error or cancel. */
function streamingHandler(
  name: string,
  service: string,
  handler: (call: grpc.ServerWritableStream<unknown, unknown>) => void,
  payloadStream: boolean,
  telemetry: Telemetry,
): (call: grpc.ServerWritableStream<unknown, unknown>) => void {
  return (call) => {
    const scope: RpcScope = telemetry.rpc(service, name, traceHeaders(call.metadata));
    if (payloadStream) telemetry.inFlight('streams', 1);
    let ended = false;
    const finish = (code: string) => {
      if (ended) return;
      ended = true;
      if (payloadStream) telemetry.inFlight('streams', -1);
      scope.end(code, 0, 0);
    };
    const c = call as grpc.ServerWritableStream<unknown, unknown> & {
      push?: (chunk: unknown, encoding?: BufferEncoding) => boolean;
    };
    const { end, emit, write } = c;
    c.end = function (this: typeof c, ...args: unknown[]) {
      finish('OK');
      return (end as (...a: unknown[]) => typeof c).apply(this, args);
    } as typeof c.end;
    c.emit = function (this: typeof c, event: string | symbol, ...args: unknown[]) {
      if (event === 'error') finish(codeName(args[0] as Partial<grpc.StatusObject>));
      return emit.call(this, event, ...args);
    };
    call.once('cancelled', () => finish('CANCELLED'));
    if (payloadStream) {
      const push = c.push;
      if (push)
        c.push = function (this: typeof c, chunk: unknown, encoding?: BufferEncoding) {
          const n = payloadBytes(chunk);
          if (n > 0) telemetry.bytes(name, 'in', n);
          return push.call(this, chunk, encoding);
        };
      c.write = function (this: typeof c, chunk: unknown, ...args: unknown[]) {
        const n = payloadBytes(chunk);
        if (n > 0) telemetry.bytes(name, 'out', n);
        return (write as (...a: unknown[]) => boolean).call(this, chunk, ...args);
      } as typeof c.write;
    }
    scope.run(() => handler(call));
  };
}

function traceHeaders(metadata: grpc.Metadata | undefined): TraceHeaders | undefined {
  if (!metadata) return undefined;
  return (name) => {
    const v = metadata.get(name);
    return v.length > 0 && typeof v[0] === 'string' ? v[0] : undefined;
  };
}

const CODE_NAMES = new Map<number, string>(
  Object.entries(grpc.status)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);

/** The gRPC status name of a callback's error (OK when none). */
function codeName(err: Partial<grpc.StatusObject> | grpc.ServiceError | null | undefined): string {
  if (!err) return 'OK';
  const code = typeof err.code === 'number' ? err.code : grpc.status.UNKNOWN;
  return CODE_NAMES.get(code) ?? 'UNKNOWN';
}

/** Content bytes a message carries (plaintext, envelope, stream data), in its fields or its items; 0 for others. */
function payloadBytes(msg: unknown): number {
  if (typeof msg !== 'object' || msg === null) return 0;
  const m = msg as Record<string, unknown>;
  let n = fieldBytes(m.plaintext) + fieldBytes(m.envelope) + fieldBytes(m.chunk) + fieldBytes(m.data);
  const list = Array.isArray(m.items) ? m.items : Array.isArray(m.results) ? m.results : undefined;
  if (list)
    for (const item of list) {
      if (typeof item !== 'object' || item === null) continue;
      const i = item as Record<string, unknown>;
      const inner = (typeof i.ok === 'object' && i.ok !== null ? i.ok : i) as Record<string, unknown>;
      n += fieldBytes(inner.plaintext) + fieldBytes(inner.envelope);
    }
  return n;
}

/** A field's bytes: one buffer, or the sum of its parts (a stream segment goes out as [ciphertext, tag]). */
function fieldBytes(v: unknown): number {
  if (v instanceof Uint8Array) return v.length;
  if (Array.isArray(v))
    return v.reduce((n: number, part: unknown) => n + (part instanceof Uint8Array ? part.length : 0), 0);
  return 0;
}
