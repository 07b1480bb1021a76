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
 * is the call's, made on first read, and its request id and trace id are the request context's, read when
 * used (an audit record, a provider call, a log line): a cache-hit call reads none of them.
 */
export class UnaryCryptoInput implements CallerRequest {
  readonly tenant: string;
  readonly context: EncryptionContext;
  readonly purpose: Purpose;
  readonly actor: string;
  /** The resolved caller (for the policy checks of a policy-limited grant). */
  readonly caller: Caller;
  policyId = '';
  plaintext: Uint8Array = NO_BYTES;
  envelope: Uint8Array = NO_BYTES;
  targetPolicyId = '';
  readonly #ctx: RequestContext;
  readonly #signal: { readonly signal: AbortSignal };

  constructor(
    tenant: string,
    context: EncryptionContext,
    purpose: Purpose,
    caller: Caller,
    ctx: RequestContext,
    signal: { readonly signal: AbortSignal },
  ) {
    this.tenant = tenant;
    this.context = context;
    this.purpose = purpose;
    this.actor = caller.id;
    this.caller = caller;
    this.#ctx = ctx;
    this.#signal = signal;
  }

  get requestId(): string {
    return this.#ctx.requestId;
  }

  get traceId(): string | undefined {
    return this.#ctx.traceId;
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
  return new UnaryCryptoInput(tenant, ctxFields, purposeField, caller, ctx, signal);
}
