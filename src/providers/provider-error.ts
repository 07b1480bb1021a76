/**
 * Every provider failure is classified, because the availability-key rules depend on it:
 * - `revoked`: access denied, key disabled, deleted, not found. The customer said no.
 * - `unavailable`: timeout, throttled, 5xx, connection error. Nobody said no; the provider is unreachable.
 */
export type ProviderErrorKind = 'revoked' | 'unavailable';

/** Stable machine-readable reasons (used as metric labels: keep the set closed). */
export type ProviderErrorReason =
  | 'access_denied'
  | 'key_disabled'
  | 'key_deleted'
  | 'key_not_found'
  | 'unwrap_rejected'
  | 'timeout'
  | 'aborted'
  | 'throttled'
  | 'server_error'
  | 'connection_error'
  | 'unknown';

export class ProviderError extends Error {
  readonly kind: ProviderErrorKind;
  readonly reason: ProviderErrorReason;
  readonly keyUri: string;
  constructor(
    kind: ProviderErrorKind,
    reason: ProviderErrorReason,
    keyUri: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProviderError';
    this.kind = kind;
    this.reason = reason;
    this.keyUri = keyUri;
  }
}

export function isProviderError(err: unknown): err is ProviderError {
  return err instanceof ProviderError;
}

/** Classification of a provider failure's reason, shared by every provider. */
export const REASON_KIND: Readonly<Record<ProviderErrorReason, ProviderErrorKind>> = {
  access_denied: 'revoked',
  key_disabled: 'revoked',
  key_deleted: 'revoked',
  key_not_found: 'revoked',
  unwrap_rejected: 'revoked',
  timeout: 'unavailable',
  aborted: 'unavailable',
  throttled: 'unavailable',
  server_error: 'unavailable',
  connection_error: 'unavailable',
  unknown: 'revoked', // fail closed: an unclassified failure never opens the availability-key path
};

export function providerError(
  reason: ProviderErrorReason,
  keyUri: string,
  message: string,
  cause?: unknown,
): ProviderError {
  return new ProviderError(REASON_KIND[reason], reason, keyUri, message, { cause });
}
