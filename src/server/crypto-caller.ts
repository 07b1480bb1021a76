import type { Access } from '../auth/access.js';
import type { Caller } from '../auth/caller.js';
import type { CallerRequest } from '../core/crypto-service.js';
import type { CallerResolver } from './caller-resolver.js';
import { callerFields } from './request-fields.js';

/** What every Crypto handler needs to know who calls and to check them. */
export interface CallerChecks {
  callers: CallerResolver;
  access: Access;
}

/**
 * The caller check of every Crypto call (unary, batch and stream): the shared fields validated, the role for
 * the purpose (`system` for PURPOSE_SYSTEM, else `user`), and the tenant the request names.
 */
export function cryptoCaller(
  deps: CallerChecks,
  method: string,
  req: Parameters<typeof callerFields>[0],
  signal: AbortSignal,
  call: Parameters<CallerResolver>[0],
): CallerRequest & { caller: Caller } {
  const fields = callerFields(req, signal);
  const caller = deps.callers(call);
  deps.access.role(caller, fields.purpose === 'system' ? 'system' : 'user', method);
  deps.access.tenant(caller, fields.tenant, method);
  return { ...fields, actor: caller.id, caller };
}
