import { randomBytes } from 'node:crypto';
import type { LogFields, Logger } from './logger.js';
import { isTraceId, parseTraceparent } from './traceparent.js';

/**
 * Who and what a request is, for every log line and audit record it causes: its request id, the caller's
 * identity once resolved, the trace id, and the RPC method. docs/logging.md describes the fields.
 *
 * The request id is, in order: the request's own `request_id` field when the client set one; else the
 * `x-request-id` metadata header (what a service mesh or proxy sets) when it is a valid request id; else one
 * the daemon generates (`newRequestId`: unique across instances and restarts, cheap enough for every call). The trace id is the one the RPC's span was given (`setTraceId`: the
 * telemetry seam), else the trace id of a valid W3C `traceparent` metadata header.
 *
 * Everything is computed on first use, so a call that logs nothing pays for one small object.
 */
export const REQUEST_ID_HEADER = 'x-request-id';
export const TRACEPARENT_HEADER = 'traceparent';

/** 1-128 printable ASCII characters (no space): the request_id rule of the API. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export function isRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID.test(value);
}

/** 64 random bits per process: generated ids of two instances (or two runs of one) never collide. */
const PREFIX = randomBytes(8).toString('hex');
let counter = 0;

/** A generated request id: `u-<16 hex digits of this process>-<a counter in base 36>`. */
export function newRequestId(): string {
  return `u-${PREFIX}-${(++counter).toString(36)}`;
}

/** The request a log line or audit record belongs to. */
export interface RequestTag {
  requestId: string;
  /** The resolved caller identity (`unix:...`, `tls:...`, `mesh:...`): never a credential. */
  caller?: string;
  traceId?: string;
}

/** The log fields of a request: `request_id`, and `caller` and `trace_id` when known. */
export function requestFields(tag: Partial<RequestTag> | undefined): LogFields {
  if (!tag) return {};
  const out: LogFields = {};
  if (tag.requestId) out.request_id = tag.requestId;
  if (tag.caller) out.caller = tag.caller;
  if (tag.traceId) out.trace_id = tag.traceId;
  return out;
}

/** What the context reads of a call's metadata (grpc-js `Metadata` fits). */
export interface HeaderSource {
  get(key: string): ReadonlyArray<string | Buffer>;
}

function header(source: HeaderSource | undefined, name: string): string | undefined {
  const v = source?.get(name)[0];
  return typeof v === 'string' ? v : undefined;
}

export class RequestContext implements RequestTag {
  /** The resolved caller identity; set by the edge once known. */
  caller?: string;
  #requestId: string | undefined;
  #traceId: string | null | undefined;
  #log: Logger | undefined;
  readonly #field: unknown;
  readonly #headers: HeaderSource | undefined;
  readonly #base: Logger;

  constructor(
    readonly method: string,
    base: Logger,
    headers?: HeaderSource,
    /** The request's own request_id field, if it has one (checked here; invalid ones are the edge's to refuse). */
    field?: unknown,
  ) {
    this.#base = base;
    this.#headers = headers;
    this.#field = field;
  }

  get requestId(): string {
    if (this.#requestId === undefined) {
      if (isRequestId(this.#field)) this.#requestId = this.#field;
      else {
        const fromHeader = header(this.#headers, REQUEST_ID_HEADER);
        this.#requestId = isRequestId(fromHeader) ? fromHeader : newRequestId();
      }
    }
    return this.#requestId;
  }

  /** A request_id field read after the call began (a stream's header message); ignored unless valid. */
  adoptRequestId(field: unknown): void {
    if (isRequestId(field)) this.#requestId = field;
  }

  get traceId(): string | undefined {
    if (this.#traceId === undefined)
      this.#traceId = parseTraceparent(header(this.#headers, TRACEPARENT_HEADER))?.traceId ?? null;
    return this.#traceId ?? undefined;
  }

  /** The trace id of the RPC's own span (telemetry); it wins over the traceparent header. Invalid ids are ignored. */
  setTraceId(traceId: string | undefined): void {
    if (isTraceId(traceId)) this.#traceId = traceId;
  }

  /** This request as a tag for the core and the audit log (a plain object: the values now). */
  tag(): RequestTag {
    const t: RequestTag = { requestId: this.requestId };
    if (this.caller) t.caller = this.caller;
    const trace = this.traceId;
    if (trace) t.traceId = trace;
    return t;
  }

  /** The request's fields, in the order they are logged. */
  fields(): LogFields {
    return {
      request_id: this.requestId,
      ...requestFields({ caller: this.caller, traceId: this.traceId }),
      method: this.method,
    };
  }

  /** A logger whose every line carries the request's fields (read when the line is written). */
  get log(): Logger {
    return (this.#log ??= scopedLogger(this.#base, this));
  }
}

/** A logger adding `source`'s fields to every line, read at the time of the line. */
export function scopedLogger(base: Logger, source: { fields(): LogFields }): Logger {
  const withFields = (f?: LogFields) => (f ? { ...source.fields(), ...f } : source.fields());
  return {
    debug: (m, f) => base.debug(m, withFields(f)),
    info: (m, f) => base.info(m, withFields(f)),
    warn: (m, f) => base.warn(m, withFields(f)),
    error: (m, f) => base.error(m, withFields(f)),
    child: (f) => scopedLogger(base.child(f), source),
  };
}
