import { type ErrorCode, type ErrorReason, UnwrapdError } from '../errors.js';
import {
  isProviderError,
  providerError,
  type ProviderError,
  type ProviderErrorKind,
} from '../providers/provider-error.js';

/**
 * The one map from a root-key provider's failure to the daemon's errors, at the core's boundary. Every
 * provider call the core makes turns its failure into an UnwrapdError here, so what leaves the core (and
 * reaches the gRPC edge, src/server/status-codes.ts) is an UnwrapdError:
 * - `revoked` (the customer said no): FAILED_PRECONDITION, the request cannot succeed as things stand;
 * - `unavailable` (nobody said no, the provider is unreachable): UNAVAILABLE, a retry may succeed.
 */
export function providerFailureCode(kind: ProviderErrorKind): ErrorCode {
  return kind === 'revoked' ? 'failed_precondition' : 'unavailable';
}

/**
 * The reason of a provider failure on a key of `role`: KEY_NOT_FOUND when the provider has no key of the URI a
 * request names (`named`: creating a policy, rolling to a new key), else revoked or unavailable, of the
 * availability key or of the customer keys.
 */
export function providerFailureReason(err: ProviderError, role?: string, named = false): ErrorReason {
  if (named && err.reason === 'key_not_found') return 'KEY_NOT_FOUND';
  if (role === 'availability')
    return err.kind === 'revoked' ? 'AVAILABILITY_KEY_REVOKED' : 'AVAILABILITY_KEY_UNAVAILABLE';
  return err.kind === 'revoked' ? 'CUSTOMER_KEYS_REVOKED' : 'CUSTOMER_KEYS_UNAVAILABLE';
}

/**
 * A provider failure as the error the caller sees: the code from the map above, `message`, the failure as its
 * cause, the reason of providerFailureReason and as metadata the key's role and the provider's classification.
 */
export function providerFailure(err: ProviderError, message: string, role?: string, named = false): UnwrapdError {
  return new UnwrapdError(providerFailureCode(err.kind), message, {
    cause: err,
    reason: providerFailureReason(err, role, named),
    metadata: { role, provider_reason: err.reason },
  });
}

/**
 * Any failure of a provider call on `keyUri`, classified: a provider's own ProviderError as it is, an abort or
 * timeout `unavailable`, anything else `unknown` (which counts as revoked: fail closed, docs/providers.md).
 */
export function classifyProviderFailure(err: unknown, keyUri: string): ProviderError {
  if (isProviderError(err)) return err;
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) {
    return providerError(err.name === 'TimeoutError' ? 'timeout' : 'aborted', keyUri, 'provider call aborted', err);
  }
  return providerError('unknown', keyUri, 'provider call failed', err);
}

/**
 * Runs one provider call made for a policy's `role` key. A ProviderError becomes "<role> key <uri> cannot be
 * used: <reason>" through the map above; any other error is rethrown as it is.
 */
export async function callProvider<T>(role: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isProviderError(err))
      throw providerFailure(err, `${role} key ${err.keyUri} cannot be used: ${err.reason}`, role, true);
    throw err;
  }
}
