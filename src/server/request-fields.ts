import type { CallerRequest, Purpose } from '../core/crypto-service.js';
import type { EncryptionContext } from '../crypto/encryption-context.js';
import { validateContext } from '../crypto/encryption-context.js';
import { invalidArgument } from '../errors.js';
import { ID_PATTERN } from '../ids.js';

/** Validation of the fields every request shares; each failure names the field. */
export function requireId(value: string | undefined, field: string): string {
  if (!value) throw invalidArgument(`${field} is required`);
  if (!ID_PATTERN.test(value))
    throw invalidArgument(`${field} must be 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit`);
  return value;
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export function requestId(value: string | undefined): string {
  if (!value) return '';
  if (!REQUEST_ID.test(value)) throw invalidArgument('request_id must be at most 128 printable ASCII characters');
  return value;
}

export function purpose(value: string | undefined): Purpose {
  switch (value) {
    case undefined:
    case '':
    case 'PURPOSE_UNSPECIFIED':
    case 'PURPOSE_USER':
      return 'user';
    case 'PURPOSE_SYSTEM':
      return 'system';
    default:
      throw invalidArgument('purpose must be PURPOSE_USER or PURPOSE_SYSTEM');
  }
}

const EMPTY: EncryptionContext = Object.freeze({});

export function context(value: Record<string, string> | undefined): EncryptionContext {
  if (!value) return EMPTY;
  for (const _ in value) {
    validateContext(value);
    return value;
  }
  return EMPTY;
}

export function callerFields(
  req: { tenant?: string; context?: Record<string, string>; purpose?: string; requestId?: string },
  signal: AbortSignal,
): CallerRequest {
  return {
    tenant: requireId(req.tenant, 'tenant'),
    context: context(req.context),
    purpose: purpose(req.purpose),
    requestId: requestId(req.requestId),
    signal,
  };
}

export function requireBytes(value: Buffer | undefined, field: string): Buffer {
  if (value === undefined || value === null) throw invalidArgument(`${field} is required`);
  return value;
}
