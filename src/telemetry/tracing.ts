import { AsyncLocalStorage } from 'node:async_hooks';
import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type ContextManager,
  type Span,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  AlwaysOnSampler,
  ParentBasedSampler,
  type IdGenerator,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import type { TraceHeaders } from './telemetry.js';

/**
 * Traces: a span per RPC (hand instrumentation at the gRPC edge), child spans for a cache miss's unwrap and
 * each provider call. Sampling is parent-based: a caller's W3C `traceparent` (gRPC metadata) decides; a call
 * without one is sampled at `ratio`, decided before any span exists. An unsampled call creates no span,
 * enters no context and gets no child span: the cost of tracing on the common path is one random number.
 *
 * The context of a sampled call travels through AsyncLocalStorage, whose hooks tax every promise of the
 * process while it is enabled (Node 20): it is enabled while a sampled call is in flight, and disabled again
 * once none is.
 */

/** The active context through AsyncLocalStorage: registered once per process, shared by every tracer. */
class AlsContextManager implements ContextManager {
  readonly #als = new AsyncLocalStorage<Context>();
  #holds = 0;
  /** A sampled call starts: its context must travel. */
  hold(): void {
    this.#holds++;
  }
  /** A sampled call ended: with none left in flight, the hooks go off (the next `with` turns them on). */
  release(): void {
    if (--this.#holds === 0) this.#als.disable();
  }
  active(): Context {
    return this.#als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#als.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const fn = target as unknown as (...a: unknown[]) => unknown;
    return ((...a: unknown[]) => this.with(ctx, () => fn(...a))) as unknown as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#als.disable();
    return this;
  }
}

let contextManager: AlsContextManager | undefined;
let contextRegistered = false;
/** Ours, once per process; undefined when another part registered one first (that one serves, as it is). */
function ensureContextManager(): AlsContextManager | undefined {
  if (!contextRegistered) {
    contextRegistered = true;
    const ours = new AlsContextManager();
    if (context.setGlobalContextManager(ours)) contextManager = ours;
  }
  return contextManager;
}

const propagator = new W3CTraceContextPropagator();
const getter: TextMapGetter<TraceHeaders> = {
  keys: () => ['traceparent', 'tracestate'],
  get: (headers, key) => headers(key),
};

export interface TracingOptions {
  resource: Resource;
  /** Root sampling ratio, 0..1. */
  ratio: number;
  exporters: SpanExporter[];
  /** Processors as they are (tests: a SimpleSpanProcessor over an in-memory exporter). */
  processors?: SpanProcessor[];
  /** Trace and span ids. */
  idGenerator?: IdGenerator;
  /** The root sampling decision's random numbers in [0, 1) (tests: known ones, so sampling is checked exactly). */
  random?: () => number;
}

export class Tracing {
  readonly #provider: NodeTracerProvider;
  readonly #tracer: Tracer;
  readonly #ratio: number;
  readonly #random: () => number;
  readonly #contexts: AlsContextManager | undefined;

  constructor(opts: TracingOptions) {
    this.#contexts = ensureContextManager();
    this.#ratio = opts.ratio;
    this.#random = opts.random ?? Math.random;
    this.#provider = new NodeTracerProvider({
      resource: opts.resource,
      // Roots reach the SDK only once sampled (startRpc); a remote parent's flag decides for the others.
      sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
      ...(opts.idGenerator ? { idGenerator: opts.idGenerator } : {}),
      spanProcessors: [...opts.exporters.map((e) => new BatchSpanProcessor(e)), ...(opts.processors ?? [])],
    });
    this.#tracer = this.#provider.getTracer('unwrapd');
  }

  /** The RPC's span when sampled (and the context it runs in), else undefined. */
  startRpc(
    service: string,
    method: string,
    headers: TraceHeaders | undefined,
  ): { span: Span; ctx: Context } | undefined {
    // A caller's parent counts only when its traceparent parses to a valid span context: a malformed one is
    // no parent, and the call is sampled at the ratio like any other root.
    const extracted =
      headers?.('traceparent') !== undefined ? propagator.extract(ROOT_CONTEXT, headers, getter) : undefined;
    const remoteSpan = extracted ? trace.getSpanContext(extracted) : undefined;
    const remote = remoteSpan !== undefined && isSpanContextValid(remoteSpan);
    if (!remote && !(this.#random() < this.#ratio)) return undefined;
    const parent = remote ? extracted! : ROOT_CONTEXT;
    const span = this.#tracer.startSpan(
      `${service}/${method}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method },
      },
      parent,
    );
    if (!span.isRecording()) return undefined;
    this.#contexts?.hold();
    return { span, ctx: trace.setSpan(parent, span) };
  }

  /** Ends an RPC's span (started by startRpc). */
  endRpc(span: Span): void {
    span.end();
    this.#contexts?.release();
  }

  /** A child of the current sampled span around `fn`; `fn` alone when there is none. */
  child<T>(
    name: string,
    fn: () => Promise<T>,
    attributes?: Record<string, string>,
    after?: (span: Span, err: unknown, value: T | undefined) => void,
  ): Promise<T> {
    const parent = context.active();
    const current = trace.getSpan(parent);
    if (!current?.isRecording()) return fn();
    const span = this.#tracer.startSpan(
      name,
      { kind: SpanKind.INTERNAL, ...(attributes ? { attributes } : {}) },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    let running: Promise<T>;
    try {
      running = context.with(ctx, fn);
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
    return running.then(
      (value) => {
        after?.(span, undefined, value);
        span.end();
        return value;
      },
      (err: unknown) => {
        after?.(span, err, undefined);
        endSpan(span, err);
        throw err;
      },
    );
  }

  shutdown(): Promise<void> {
    return this.#provider.shutdown();
  }
}

/** Ends a span as failed, naming only the error's class (its message may carry identifiers, never needed here). */
export function endSpan(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
  span.end();
}
