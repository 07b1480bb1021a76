/**
 * One error class with a closed set of codes and a closed set of reasons. Domain code throws UnwrapdError; the
 * gRPC edge maps it in exactly one place (src/server/status-codes.ts): the code to a gRPC status code, the
 * reason and metadata to a google.rpc.ErrorInfo in the status details. Messages and metadata never carry key
 * material, plaintext or ciphertext: they are built from identifiers and sizes only.
 */
export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition' // revoked, purged, wrong state
  | 'permission_denied'
  | 'unavailable'
  | 'deadline_exceeded'
  | 'decryption_failed' // one generic error for every failed decryption
  | 'resource_exhausted'
  | 'internal';

/**
 * Every ErrorInfo.reason the daemon sends: stable, UPPER_SNAKE_CASE, documented in docs/api.md ("Errors"),
 * which test/error-reasons.test.ts checks against this list. Add to it, never rename or remove.
 */
export const ERROR_REASONS = [
  // INVALID_ARGUMENT
  'INVALID_REQUEST',
  'INVALID_CONTEXT',
  'TENANT_MISMATCH',
  'DECRYPTION_FAILED',
  // NOT_FOUND
  'NOT_FOUND',
  'POLICY_NOT_FOUND',
  'KEY_VERSION_NOT_FOUND',
  // ALREADY_EXISTS
  'ALREADY_EXISTS',
  'POLICY_EXISTS',
  // FAILED_PRECONDITION
  'FAILED_PRECONDITION',
  'POLICY_REVOKED',
  'POLICY_PURGED',
  'POLICY_REGISTERING',
  'KEY_VERSION_RETIRED',
  'REVISION_CONFLICT',
  'PURGE_REQUIRES_REVOKE',
  'CUSTOMER_KEYS_REVOKED',
  'CUSTOMER_KEY_STILL_ACCESSIBLE',
  'CUSTOMER_KEY_REVOCATION_UNCONFIRMED',
  'KEY_NOT_FOUND',
  'AVAILABILITY_KEY_REVOKED',
  'AVAILABILITY_KEY_SHARED',
  'PROVIDER_UNSUPPORTED',
  'TENANT_POLICY_LIMIT',
  'GEO_CONFLICT',
  'RECOVERY_REFUSED',
  'EVENTS_EXPIRED',
  // PERMISSION_DENIED
  'PERMISSION_DENIED',
  'ROLE_NOT_GRANTED',
  'TENANT_NOT_ALLOWED',
  'POLICY_NOT_ALLOWED',
  // RESOURCE_EXHAUSTED (and INVALID_ARGUMENT for a block or stream over its size)
  'LIMIT_EXCEEDED',
  // UNAVAILABLE
  'UNAVAILABLE',
  'CUSTOMER_KEYS_UNAVAILABLE',
  'AVAILABILITY_KEY_UNAVAILABLE',
  'POLICY_KEYS_CHANGED',
  'REVOCATION_FEED_LOST',
  'REGISTRY_UNAVAILABLE',
  'AUDIT_UNAVAILABLE',
  'SHUTTING_DOWN',
  // DEADLINE_EXCEEDED, CANCELLED, INTERNAL
  'DEADLINE_EXCEEDED',
  'CANCELLED',
  'INTERNAL',
] as const;

export type ErrorReason = (typeof ERROR_REASONS)[number];

/** The reason of an error thrown without one: the generic reason of its code. */
export const DEFAULT_REASON: Readonly<Record<ErrorCode, ErrorReason>> = {
  invalid_argument: 'INVALID_REQUEST',
  not_found: 'NOT_FOUND',
  already_exists: 'ALREADY_EXISTS',
  failed_precondition: 'FAILED_PRECONDITION',
  permission_denied: 'PERMISSION_DENIED',
  unavailable: 'UNAVAILABLE',
  deadline_exceeded: 'DEADLINE_EXCEEDED',
  decryption_failed: 'DECRYPTION_FAILED',
  resource_exhausted: 'LIMIT_EXCEEDED',
  internal: 'INTERNAL',
};

/**
 * Safe identifiers that go with a reason (ErrorInfo.metadata): tenant, policy_id, key_version, role, limit,
 * limit_value, revision, method... Never key material, plaintext, ciphertext, credentials or key URIs.
 */
export type ErrorMetadata = Readonly<Record<string, string>>;

export interface UnwrapdErrorOptions {
  cause?: unknown;
  reason?: ErrorReason;
  /** Values are converted to strings; undefined values are left out. */
  metadata?: Readonly<Record<string, string | number | undefined>>;
}

const NO_METADATA: ErrorMetadata = Object.freeze({});

export class UnwrapdError extends Error {
  readonly code: ErrorCode;
  readonly reason: ErrorReason;
  readonly metadata: ErrorMetadata;
  constructor(code: ErrorCode, message: string, options?: UnwrapdErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UnwrapdError';
    this.code = code;
    this.reason = options?.reason ?? DEFAULT_REASON[code];
    this.metadata = options?.metadata ? toMetadata(options.metadata) : NO_METADATA;
  }
}

function toMetadata(values: Readonly<Record<string, string | number | undefined>>): ErrorMetadata {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = String(v);
  return Object.freeze(out);
}

/** The metadata naming a policy: `tenant`, `policy_id`. */
export function policyMetadata(tenant: string, policyId: string): { tenant: string; policy_id: string } {
  return { tenant, policy_id: policyId };
}

/** The single message every failed decryption carries, whatever went wrong (parse, unwrap, tag, commitment). */
export const DECRYPTION_FAILED_MESSAGE = 'decryption failed';

export function decryptionFailed(cause?: unknown): UnwrapdError {
  return new UnwrapdError('decryption_failed', DECRYPTION_FAILED_MESSAGE, { cause });
}

export function invalidArgument(message: string, reason: ErrorReason = 'INVALID_REQUEST'): UnwrapdError {
  return new UnwrapdError('invalid_argument', message, { reason });
}

/** A request or stream over one of its limits: RESOURCE_EXHAUSTED, LIMIT_EXCEEDED naming the limit and its value. */
export function limitExceeded(message: string, limit: string, value: number, code: ErrorCode = 'resource_exhausted') {
  return new UnwrapdError(code, message, { reason: 'LIMIT_EXCEEDED', metadata: { limit, limit_value: value } });
}

export function isUnwrapdError(err: unknown, code?: ErrorCode): err is UnwrapdError {
  return err instanceof UnwrapdError && (code === undefined || err.code === code);
}

/** Any thrown value as one line of text for a message: an Error's message, anything else converted. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Any thrown value as a logger's `error` field: an Error as it is (the logger describes it), anything else as text. */
export function loggableError(err: unknown): Error | string {
  return err instanceof Error ? err : String(err);
}
