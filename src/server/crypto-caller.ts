import type { Access } from '../auth/access.js';
import { inRequest, type Caller } from '../auth/caller.js';
import type { CallerRequest, Purpose } from '../core/crypto-service.js';
import type { EncryptionContext } from '../crypto/encryption-context.js';
import type { RequestContext } from '../log/request-context.js';
import type { CallerResolver } from './caller-resolver.js';
import { callerFields, context, purpose, requestId, requireId } from './request-fields.js';

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

const NO_BYTES = new Uint8Array(0);

/**
 * The core's input of one unary Crypto call (EncryptInput, DecryptInput, RewrapInput in one shape), built once
 * per call, with no object spread or copy on the way: the handler sets the fields of its method. Its `signal`
 * is the call's, made on first read (a cache-hit call never reads it).
 */
export class UnaryCryptoInput implements CallerRequest {
  readonly tenant: string;
  readonly context: EncryptionContext;
  readonly purpose: Purpose;
  readonly requestId: string;
  readonly actor: string;
  readonly traceId: string | undefined;
  /** The resolved caller (for the policy checks of a policy-limited grant). */
  readonly caller: Caller;
  policyId = '';
  plaintext: Uint8Array = NO_BYTES;
  envelope: Uint8Array = NO_BYTES;
  targetPolicyId = '';
  readonly #signal: { readonly signal: AbortSignal };

  constructor(
    fields: Omit<CallerRequest, 'signal' | 'actor'>,
    caller: Caller,
    signal: { readonly signal: AbortSignal },
  ) {
    this.tenant = fields.tenant;
    this.context = fields.context;
    this.purpose = fields.purpose;
    this.requestId = fields.requestId;
    this.traceId = fields.traceId;
    this.actor = caller.id;
    this.caller = caller;
    this.#signal = signal;
  }

  get signal(): AbortSignal {
    return this.#signal.signal;
  }
}

/**
 * cryptoCaller for a unary call: the same checks in the same order (the shared fields validated, the request
 * id adopted, the caller resolved, its role for the purpose and the tenant), into one UnaryCryptoInput.
 */
export function unaryCryptoInput(
  deps: CallerChecks,
  ctx: RequestContext,
  req: Parameters<typeof callerFields>[0],
  signal: { readonly signal: AbortSignal },
  call: Parameters<CallerResolver>[0],
): UnaryCryptoInput {
  const tenant = requireId(req.tenant, 'tenant');
  const ctxFields = context(req.context);
  const purposeField = purpose(req.purpose);
  ctx.adoptRequestId(requestId(req.requestId));
  const resolved = deps.callers(call);
  ctx.caller = resolved.id;
  const caller = inRequest(resolved, ctx);
  deps.access.role(caller, purposeField === 'system' ? 'system' : 'user', ctx.method);
  deps.access.tenant(caller, tenant, ctx.method);
  return new UnaryCryptoInput(
    { tenant, context: ctxFields, purpose: purposeField, requestId: ctx.requestId, traceId: ctx.traceId },
    caller,
    signal,
  );
}
