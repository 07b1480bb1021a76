import { isProviderError, providerError, type ProviderError, type ProviderErrorReason } from './provider-error.js';

/**
 * Classification of PKCS#11 failures (the token's CKR_ return values) into provider errors, as
 * azure-errors.ts and azure-identity-errors.ts do for Azure: what the token's answer means for the caller
 * (a revocation, an outage, a refused copy), and which answers mean the session is gone.
 */

/** The CKR_ name of a PKCS#11 failure (pkcs11js puts it in the message). */
export function ckr(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'ckr' in err && typeof err.ckr === 'string') return err.ckr;
  const message = err instanceof Error ? err.message : '';
  return /^(CKR_[A-Z0-9_]+)/.exec(message)?.[1];
}

const GENERIC_FAILURE = new Set(['CKR_GENERAL_ERROR', 'CKR_FUNCTION_FAILED']);

/** A generic failure: some tokens (SoftHSM among them) report an OAEP decoding failure this way. */
export function isGenericFailure(err: unknown): boolean {
  return GENERIC_FAILURE.has(ckr(err) ?? '');
}

const SESSION_LOST = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_DEVICE_ERROR',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
]);

/** The session is gone (token removed, session closed, logged out): drop it, the next call opens a new one. */
export function isSessionLost(err: unknown): boolean {
  return SESSION_LOST.has(ckr(err) ?? '');
}

const CKR_REASONS: Record<string, ProviderErrorReason> = {
  CKR_PIN_INCORRECT: 'access_denied',
  CKR_PIN_LOCKED: 'access_denied',
  CKR_PIN_EXPIRED: 'access_denied',
  CKR_PIN_INVALID: 'access_denied',
  CKR_PIN_LEN_RANGE: 'access_denied',
  CKR_USER_PIN_NOT_INITIALIZED: 'access_denied',
  CKR_USER_NOT_LOGGED_IN: 'access_denied',
  CKR_KEY_HANDLE_INVALID: 'key_not_found',
  CKR_OBJECT_HANDLE_INVALID: 'key_not_found',
  CKR_KEY_FUNCTION_NOT_PERMITTED: 'key_disabled',
  CKR_KEY_TYPE_INCONSISTENT: 'unwrap_rejected',
  CKR_MECHANISM_INVALID: 'unwrap_rejected',
  CKR_MECHANISM_PARAM_INVALID: 'unwrap_rejected',
  CKR_ARGUMENTS_BAD: 'unwrap_rejected', // SoftHSM's answer to OAEP parameters it does not support
  CKR_ENCRYPTED_DATA_INVALID: 'unwrap_rejected',
  CKR_ENCRYPTED_DATA_LEN_RANGE: 'unwrap_rejected',
  CKR_DEVICE_ERROR: 'server_error',
  CKR_DEVICE_MEMORY: 'server_error',
  CKR_GENERAL_ERROR: 'server_error',
  CKR_FUNCTION_FAILED: 'server_error',
  CKR_HOST_MEMORY: 'server_error',
  CKR_DEVICE_REMOVED: 'connection_error',
  CKR_TOKEN_NOT_PRESENT: 'connection_error',
  CKR_TOKEN_NOT_RECOGNIZED: 'connection_error',
  CKR_SESSION_HANDLE_INVALID: 'connection_error',
  CKR_SESSION_CLOSED: 'connection_error',
  CKR_SESSION_COUNT: 'server_error',
  CKR_CRYPTOKI_NOT_INITIALIZED: 'server_error',
};

/**
 * PKCS#11 return values to reasons: PIN problems -> access_denied; no such key -> key_not_found; the key may
 * not decrypt -> key_disabled; the ciphertext is not for this key, or its mechanism is not offered ->
 * unwrap_rejected; token absent or the
 * session lost -> connection_error; device errors -> server_error; a module that cannot be loaded ->
 * server_error; anything else -> unknown (revoked: fails closed).
 */
export function classifyPkcs11Error(err: unknown, keyUri: string): ProviderError {
  if (isProviderError(err)) return err;
  const code = ckr(err);
  const message = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : String(err).slice(0, 200);
  if (code !== undefined)
    return providerError(CKR_REASONS[code] ?? 'unknown', keyUri, `${keyUri}: the token answered ${code}`, err);
  if (/dlopen|cannot open shared object|No such file/i.test(message))
    return providerError('server_error', keyUri, `${keyUri}: the PKCS#11 module cannot be loaded (${message})`, err);
  return providerError('unknown', keyUri, `${keyUri}: PKCS#11 failure: ${message}`, err);
}

/** The call's signal ended it: its deadline (timeout) or the caller (aborted). */
export function abortedError(keyUri: string, signal: AbortSignal): ProviderError {
  const name = (signal.reason as { name?: unknown } | undefined)?.name;
  const timeout = name === 'TimeoutError' || name === 'DeadlineExceededError';
  return providerError(
    timeout ? 'timeout' : 'aborted',
    keyUri,
    `${keyUri}: ${timeout ? 'the call ran out of time (deadline)' : 'aborted by the caller'}`,
  );
}
