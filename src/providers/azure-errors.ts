import { AzureIdentityError } from './azure-credential.js';
import { classifyIdentityFailure, UNREACHABLE_CODES } from './azure-identity-errors.js';
import { providerError, type ProviderError, type ProviderErrorReason } from './provider-error.js';

/** What @azure/identity throws (a credential not wrapped by classifyingCredential, e.g. one passed in). */
const IDENTITY_ERROR_NAMES = new Set([
  'AuthenticationError',
  'CredentialUnavailableError',
  'AggregateAuthenticationError',
  'AuthenticationRequiredError',
]);

/**
 * Classification of what the Azure SDKs throw into `revoked` / `unavailable` (src/providers/provider-error.ts).
 * The table (docs/providers.md has it with the reasons behind each row; test/azure-provider.test.ts checks
 * every row against the real SDK's error objects from the fake vault):
 *
 * | what the SDK throws                                                    | reason           | kind        |
 * | ---------------------------------------------------------------------- | ---------------- | ----------- |
 * | RestError 403 with innererror `KeyDisabled` ("…on a disabled key")   | key_disabled     | revoked     |
 * | RestError 403 (access policy / RBAC removed, firewall)                 | access_denied    | revoked     |
 * | RestError 401 after the challenge (the vault refused our token)        | access_denied    | revoked     |
 * | RestError 404 (`KeyNotFound`: missing, or deleted)                     | key_not_found    | revoked     |
 * | RestError 400 on unwrap (`BadParameter`: the key cannot decrypt it)    | unwrap_rejected  | revoked     |
 * | RestError 408, or ETIMEDOUT/ESOCKETTIMEDOUT (a try timed out)          | timeout          | unavailable |
 * | RestError 429 (after the bounded retries)                              | throttled        | unavailable |
 * | RestError 5xx (after the bounded retries)                              | server_error     | unavailable |
 * | RestError without a status: ECONNRESET, ECONNREFUSED, ENOTFOUND, TLS…  | connection_error | unavailable |
 * | the call's signal aborted: deadline (TimeoutError, DeadlineExceeded)   | timeout          | unavailable |
 * | the call's signal aborted by the caller (cancelled)                    | aborted          | unavailable |
 * | SDK client-side check: key expired / not yet valid / op not permitted  | key_disabled     | revoked     |
 * | a failed token request (@azure/identity): classified by its cause, see azure-identity-errors.ts:     |
 * |   Entra ID / managed identity endpoint unreachable, 5xx, 408, 429, temporarily_unavailable, timeout -> unavailable; |
 * |   invalid/unauthorized client, invalid_grant, consent, disabled or missing application -> access_denied (revoked); |
 * |   anything else -> unknown (revoked), with its redacted cause in the message                         |
 * | anything else                                                          | unknown          | revoked     |
 *
 * Deleted keys answer 404 like missing ones; the provider's `status()` asks /deletedkeys to tell them apart.
 */
export function classifyAzureError(err: unknown, keyUri: string, signal?: AbortSignal): ProviderError {
  const [reason, detail] = reasonOf(err, signal);
  return providerError(reason, keyUri, `${keyUri}: ${detail}`, err);
}

function reasonOf(err: unknown, signal: AbortSignal | undefined): [ProviderErrorReason, string] {
  if (signal?.aborted) return abortReason(signal.reason);
  const e = err as { name?: unknown; code?: unknown; statusCode?: unknown; message?: unknown } | undefined;
  const name = typeof e?.name === 'string' ? e.name : '';
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message.slice(0, 300) : '';
  const status = typeof e?.statusCode === 'number' ? e.statusCode : undefined;

  if (name === 'RestError') {
    const what = `Key Vault answered ${status ?? code ?? 'an error'}${code && status ? ` ${code}` : ''}: ${message}`;
    if (status === undefined) {
      if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return ['timeout', `no response in time (${message})`];
      return ['connection_error', `cannot reach the vault (${code ?? 'network error'}: ${message})`];
    }
    if (status === 403)
      return [
        innerCode(err) === 'KeyDisabled' || /disabled key/i.test(message) ? 'key_disabled' : 'access_denied',
        what,
      ];
    if (status === 401) return ['access_denied', `${what} (the vault refused the token)`];
    if (status === 404) return ['key_not_found', what];
    if (status === 400) return ['unwrap_rejected', what];
    if (status === 408) return ['timeout', what];
    if (status === 429) return ['throttled', what];
    if (status >= 500) return ['server_error', what];
    return ['unknown', what];
  }
  if (err instanceof AzureIdentityError) return [err.reason, `cannot get a token: ${err.message}`];
  if (IDENTITY_ERROR_NAMES.has(name)) {
    const [reason, detail] = classifyIdentityFailure(err);
    return [reason, `cannot get a token: ${detail}`];
  }
  if (name === 'AbortError' || name === 'TimeoutError') return ['timeout', `the call was aborted (${message})`];
  // Checks the SDK's CryptographyClient makes itself, from the key it fetched, before calling the vault.
  if (/expired at|can't be used before|is not supported on key/.test(message)) return ['key_disabled', message];
  if (code !== undefined && UNREACHABLE_CODES.has(code))
    return ['connection_error', `cannot reach the vault (${code})`];
  return ['unknown', `${name || 'error'}: ${message}`];
}

/** Key Vault's `error.innererror.code` (the SDK keeps the parsed body in RestError.details, as `innerError`). */
function innerCode(err: unknown): string | undefined {
  const details = (err as { details?: unknown }).details;
  if (typeof details !== 'object' || details === null) return undefined;
  const error = (details as { error?: { innerError?: { code?: unknown }; innererror?: { code?: unknown } } }).error;
  const code = error?.innerError?.code ?? error?.innererror?.code;
  return typeof code === 'string' ? code : undefined;
}

/** An aborted call: the deadline (the provider timeout's TimeoutError, the gRPC DeadlineExceededError) or a cancellation. */
export function abortReason(reason: unknown): [ProviderErrorReason, string] {
  const name =
    reason instanceof Error || (typeof reason === 'object' && reason !== null && 'name' in reason)
      ? String((reason as { name: unknown }).name)
      : '';
  if (name === 'TimeoutError' || name === 'DeadlineExceededError')
    return ['timeout', 'the call ran out of time (deadline)'];
  return ['aborted', 'aborted by the caller (cancellation)'];
}
