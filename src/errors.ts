/**
 * One error class with a closed set of codes. Domain code throws UnwrapdError; the gRPC edge maps codes to
 * status codes in exactly one place (src/server/status-codes.ts). Messages never carry key material,
 * plaintext or ciphertext: they are built from identifiers and sizes only.
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

export class UnwrapdError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnwrapdError';
    this.code = code;
  }
}

/** The single message every failed decryption carries, whatever went wrong (parse, unwrap, tag, commitment). */
export const DECRYPTION_FAILED_MESSAGE = 'decryption failed';

export function decryptionFailed(cause?: unknown): UnwrapdError {
  return new UnwrapdError('decryption_failed', DECRYPTION_FAILED_MESSAGE, { cause });
}

export function invalidArgument(message: string): UnwrapdError {
  return new UnwrapdError('invalid_argument', message);
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
