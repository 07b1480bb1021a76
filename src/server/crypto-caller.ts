import { requireRole } from '../auth/caller.js';
import type { CallerRequest } from '../core/crypto-service.js';
import type { CallerResolver } from './caller-resolver.js';
import { callerFields } from './request-fields.js';

/**
 * The caller check of every Crypto call (unary, batch and stream): the shared fields validated, and the
 * role for the purpose (`system` for PURPOSE_SYSTEM, else `user`).
 */
export function cryptoCaller(
  callers: CallerResolver,
  req: Parameters<typeof callerFields>[0],
  signal: AbortSignal,
  call: Parameters<CallerResolver>[0],
): CallerRequest {
  const fields = callerFields(req, signal);
  const who = callers(call);
  requireRole(who, fields.purpose === 'system' ? 'system' : 'user', fields.purpose === 'system' ? 'the system purpose' : 'encrypt and decrypt');
  return fields;
}
