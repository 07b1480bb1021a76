import type { Access } from '../auth/access.js';
import { inRequest, type Caller } from '../auth/caller.js';
import type { CallerRequest } from '../core/crypto-service.js';
import type { RequestContext } from '../log/request-context.js';
import type { CallerResolver } from './caller-resolver.js';
import { callerFields } from './request-fields.js';

/** What every Crypto handler needs to know who calls and to check them. */
export interface CallerChecks {
  callers: CallerResolver;
  access: Access;
}

/**
 * The caller check of every Crypto call (unary, batch and stream): the shared fields validated, the role for
 * the purpose (`system` for PURPOSE_SYSTEM, else `user`), and the tenant the request names. The request
 * context learns the caller, and the core gets the request's id (the client's, the `x-request-id` header's
 * or a generated one) and trace id for the audit records and log lines it causes.
 */
export function cryptoCaller(
  deps: CallerChecks,
  ctx: RequestContext,
  req: Parameters<typeof callerFields>[0],
  signal: AbortSignal,
  call: Parameters<CallerResolver>[0],
): CallerRequest & { caller: Caller } {
  const fields = callerFields(req, signal);
  ctx.adoptRequestId(fields.requestId);
  const resolved = deps.callers(call);
  ctx.caller = resolved.id;
  const caller = inRequest(resolved, ctx);
  deps.access.role(caller, fields.purpose === 'system' ? 'system' : 'user', ctx.method);
  deps.access.tenant(caller, fields.tenant, ctx.method);
  fields.requestId = ctx.requestId;
  const traceId = ctx.traceId;
  if (traceId) fields.traceId = traceId;
  return { ...fields, actor: caller.id, caller };
}
