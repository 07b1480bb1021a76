/**
 * A strict parser of the W3C Trace Context `traceparent` header (https://www.w3.org/TR/trace-context/):
 * `version-traceid-parentid-flags`, lowercase hex, e.g. `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
 * Version 00 is exactly 55 characters; a higher version (not `ff`) may append `-` and more, which is ignored.
 * An all-zero trace id or parent id, uppercase hex, or any other deviation is no traceparent at all.
 */
export interface TraceParent {
  version: string;
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero. */
  parentId: string;
  /** The trace flags byte (bit 0: sampled). */
  flags: number;
}

const HEADER = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const TRACE_ID = /^[0-9a-f]{32}$/;
/** Longer values are refused unread (a header is bounded; the parse stays cheap). */
const MAX_LENGTH = 512;

export function parseTraceparent(value: string | undefined): TraceParent | undefined {
  if (value === undefined || value.length < 55 || value.length > MAX_LENGTH) return undefined;
  const m = HEADER.exec(value);
  if (!m) return undefined;
  const [, version, traceId, parentId, flags, rest] = m as unknown as [string, string, string, string, string, string?];
  if (version === 'ff') return undefined;
  if (version === '00' && rest !== undefined) return undefined;
  if (!isTraceId(traceId) || /^0+$/.test(parentId)) return undefined;
  return { version, traceId, parentId, flags: parseInt(flags, 16) };
}

/** 32 lowercase hex digits, not all zero: a valid W3C trace id (what a span's context holds too). */
export function isTraceId(value: string | undefined): value is string {
  return value !== undefined && TRACE_ID.test(value) && value !== '00000000000000000000000000000000';
}
