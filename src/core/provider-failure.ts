import { type ErrorCode, UnwrapdError } from '../errors.js';
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

/** A provider failure as the error the caller sees: the code from the map above, `message`, the failure as its cause. */
export function providerFailure(err: ProviderError, message: string): UnwrapdError {
  return new UnwrapdError(providerFailureCode(err.kind), message, { cause: err });
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
    if (isProviderError(err)) throw providerFailure(err, `${role} key ${err.keyUri} cannot be used: ${err.reason}`);
    throw err;
  }
}
