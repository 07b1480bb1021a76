import * as grpc from '@grpc/grpc-js';
import { DECRYPTION_FAILED_MESSAGE, type ErrorCode, type ErrorReason, UnwrapdError } from '../errors.js';
import type { ItemError } from '../generated/unwrapd/v1/ItemError.js';
import { errorField, type Logger } from '../log/logger.js';
import {
  ERROR_DOMAIN,
  ERROR_INFO_TYPE_URL,
  encodeErrorInfo,
  encodeStatus,
  STATUS_DETAILS_KEY,
  type ErrorInfo,
} from '../rpc/error-details.js';
import { CallCancelledError, DeadlineExceededError } from './call-signal.js';

/**
 * The one place where domain errors become gRPC statuses (docs/api.md lists the contract): the code, the
 * message, and a google.rpc.Status in the `grpc-status-details-bin` trailer whose ErrorInfo carries the error's
 * reason (src/errors.ts, ERROR_REASONS) and its safe metadata. The core hands out only UnwrapdError (a
 * provider's failure is mapped at the core's boundary, src/core/provider-failure.ts); besides those, only the
 * call's own deadline and cancellation (call-signal.ts) end here. Anything else is a bug: INTERNAL, its text
 * logged and never sent. Nothing here runs for a call that succeeds.
 */
const CODES: Record<ErrorCode, grpc.status> = {
  invalid_argument: grpc.status.INVALID_ARGUMENT,
  not_found: grpc.status.NOT_FOUND,
  already_exists: grpc.status.ALREADY_EXISTS,
  failed_precondition: grpc.status.FAILED_PRECONDITION,
  permission_denied: grpc.status.PERMISSION_DENIED,
  unavailable: grpc.status.UNAVAILABLE,
  deadline_exceeded: grpc.status.DEADLINE_EXCEEDED,
  decryption_failed: grpc.status.INVALID_ARGUMENT,
  resource_exhausted: grpc.status.RESOURCE_EXHAUSTED,
  internal: grpc.status.INTERNAL,
};

/** An error as the caller sees it: status code, message, reason and metadata. */
export interface ErrorStatus {
  code: grpc.status;
  message: string;
  reason: ErrorReason;
  metadata: Readonly<Record<string, string>>;
}

const NONE = Object.freeze({});

export function describeError(err: unknown, log: Logger, method: string): ErrorStatus {
  if (err instanceof UnwrapdError) {
    // One message and no metadata for every failed decryption: nothing says which check failed.
    if (err.code === 'decryption_failed') {
      return { code: CODES.decryption_failed, message: DECRYPTION_FAILED_MESSAGE, reason: err.reason, metadata: NONE };
    }
    if (err.code === 'internal') log.error('internal error', { method, error: err });
    return { code: CODES[err.code], message: err.message, reason: err.reason, metadata: err.metadata };
  }
  if (err instanceof DeadlineExceededError)
    return {
      code: grpc.status.DEADLINE_EXCEEDED,
      message: 'deadline exceeded',
      reason: 'DEADLINE_EXCEEDED',
      metadata: NONE,
    };
  if (err instanceof CallCancelledError)
    return { code: grpc.status.CANCELLED, message: 'cancelled', reason: 'CANCELLED', metadata: NONE };
  // Unknown errors never reach the caller as text: the cause is logged here only.
  log.error('unexpected error', { method, error: errorField(err) });
  return { code: grpc.status.INTERNAL, message: 'internal error', reason: 'INTERNAL', metadata: NONE };
}

function errorInfo(s: ErrorStatus): ErrorInfo {
  return { reason: s.reason, domain: ERROR_DOMAIN, metadata: { ...s.metadata } };
}

/** A status for grpc-js (unary callback, stream 'error'), with its details in the trailers. */
export function grpcStatus(s: ErrorStatus): grpc.StatusObject {
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, encodeStatus(s.code, s.message, errorInfo(s)));
  return { code: s.code, details: s.message, metadata };
}

export function toStatus(err: unknown, log: Logger, method: string): grpc.StatusObject {
  return grpcStatus(describeError(err, log, method));
}

/**
 * A batch item's error: the same code, message and ErrorInfo as a failed call would carry, in `status`; `code`
 * and `message` (deprecated) repeat the first two for clients built before `status`.
 */
export function toItemError(err: unknown, log: Logger, method: string): ItemError {
  const s = describeError(err, log, method);
  return {
    code: s.code,
    message: s.message,
    status: {
      code: s.code,
      message: s.message,
      details: [{ type_url: ERROR_INFO_TYPE_URL, value: Buffer.from(encodeErrorInfo(errorInfo(s))) }],
    },
  };
}

/** A refusal made outside the handlers (the request-limit interceptor): code, message, the limit it names. */
export function refusalStatus(
  code: 'resource_exhausted' | 'invalid_argument',
  message: string,
  limit?: { name: string; value: number },
): grpc.StatusObject {
  return grpcStatus({
    code: CODES[code],
    message,
    reason: code === 'resource_exhausted' ? 'LIMIT_EXCEEDED' : 'INVALID_REQUEST',
    metadata: limit ? { limit: limit.name, limit_value: String(limit.value) } : NONE,
  });
}
