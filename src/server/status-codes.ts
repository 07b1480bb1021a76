import * as grpc from '@grpc/grpc-js';
import { DECRYPTION_FAILED_MESSAGE, type ErrorCode, UnwrapdError } from '../errors.js';
import { errorField, type Logger } from '../log/logger.js';
import { CallCancelledError, DeadlineExceededError } from './call-signal.js';

/**
 * The one place where domain errors become gRPC status codes (docs/api.md lists the contract). The core hands
 * out only UnwrapdError (a provider's failure is mapped at the core's boundary, src/core/provider-failure.ts);
 * besides those, only the call's own deadline and cancellation (call-signal.ts) end here. Anything else is a
 * bug: INTERNAL, its text logged and never sent.
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

export function toStatus(err: unknown, log: Logger, method: string): Partial<grpc.StatusObject> {
  if (err instanceof UnwrapdError) {
    if (err.code === 'decryption_failed') return { code: CODES.decryption_failed, details: DECRYPTION_FAILED_MESSAGE };
    if (err.code === 'internal') log.error('internal error', { method, error: err });
    return { code: CODES[err.code], details: err.message };
  }
  if (err instanceof DeadlineExceededError)
    return { code: grpc.status.DEADLINE_EXCEEDED, details: 'deadline exceeded' };
  if (err instanceof CallCancelledError) return { code: grpc.status.CANCELLED, details: 'cancelled' };
  // Unknown errors never reach the caller as text: the cause is logged here only.
  log.error('unexpected error', { method, error: errorField(err) });
  return { code: grpc.status.INTERNAL, details: 'internal error' };
}
