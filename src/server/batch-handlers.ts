import type { BatchService, ItemResult } from '../core/batch-service.js';
import { UnwrapdError } from '../errors.js';
import type { DecryptBatchRequest__Output } from '../generated/unwrapd/v1/DecryptBatchRequest.js';
import type { DecryptBatchResponse } from '../generated/unwrapd/v1/DecryptBatchResponse.js';
import type { EncryptBatchRequest__Output } from '../generated/unwrapd/v1/EncryptBatchRequest.js';
import type { EncryptBatchResponse } from '../generated/unwrapd/v1/EncryptBatchResponse.js';
import type { Logger } from '../log/logger.js';
import type { RequestContext } from '../log/request-context.js';
import type { CallerResolver } from './caller-resolver.js';
import { cryptoCaller, type CallerChecks } from './crypto-caller.js';
import { envelopePolicy } from './envelope-policy.js';
import { requireId } from './request-fields.js';
import { toItemError } from './status-codes.js';
import { unary } from './unary.js';

export interface BatchDeps extends CallerChecks {
  batches: BatchService;
}

const EMPTY = Buffer.alloc(0);

/** The caller and trace id a batch passes on (for an availability-key use's audit record and log line). */
const request = (c: { actor?: string; traceId?: string }) => ({
  ...(c.actor ? { actor: c.actor } : {}),
  ...(c.traceId ? { traceId: c.traceId } : {}),
});

/**
 * EncryptBatch / DecryptBatch: thin handlers. Request-level errors fail the call (unary's mapping); each
 * item's error becomes its own ItemError through the same mapping (status-codes.ts): the same code, message
 * and ErrorInfo a failed call would carry, so a failed decryption is INVALID_ARGUMENT, DECRYPTION_FAILED, with
 * the one generic message there too.
 */
export function batchHandlers(deps: BatchDeps, log: Logger) {
  /** The caller check once for the batch: role, tenant, and for a policy-limited caller every item's policy. */
  const caller = (
    ctx: RequestContext,
    req: EncryptBatchRequest__Output | DecryptBatchRequest__Output,
    signal: AbortSignal,
    call: Parameters<CallerResolver>[0],
    policies: () => Iterable<string | undefined>,
  ) => {
    const { caller: who, ...c } = cryptoCaller(
      deps,
      ctx,
      { tenant: req.tenant, purpose: req.purpose, requestId: req.requestId },
      signal,
      call,
    );
    if (who.policies) for (const p of policies()) if (p !== undefined) deps.access.policy(who, c.tenant, p, ctx.method);
    return c;
  };
  const items = <T extends { context?: Record<string, string> }>(list: T[] | undefined): T[] => {
    if (!Array.isArray(list)) throw new UnwrapdError('invalid_argument', 'items is required');
    return list;
  };
  const results = <T, R>(list: ItemResult<T>[], ctx: RequestContext, ok: (v: T) => R) =>
    list.map((r) => ('ok' in r ? { ok: ok(r.ok) } : { error: toItemError(r.error, ctx.log, ctx.method) }));

  return {
    EncryptBatch: unary<EncryptBatchRequest__Output, EncryptBatchResponse>(
      'EncryptBatch',
      log,
      async (req, signal, call, ctx) => {
        const policyId = requireId(req.policyId, 'policy_id');
        const c = caller(ctx, req, signal, call, () => [policyId]);
        const list = items(req.items).map((i) => ({ plaintext: i.plaintext ?? EMPTY, context: i.context ?? {} }));
        const out = await deps.batches.encrypt({
          tenant: c.tenant,
          purpose: c.purpose,
          requestId: c.requestId,
          ...request(c),
          signal,
          policyId,
          items: list,
        });
        return { results: results(out, ctx, (v) => ({ envelope: v.envelope, keyVersion: v.keyVersion })) };
      },
    ),
    DecryptBatch: unary<DecryptBatchRequest__Output, DecryptBatchResponse>(
      'DecryptBatch',
      log,
      async (req, signal, call, ctx) => {
        const c = caller(ctx, req, signal, call, () =>
          items(req.items).map((i) => {
            const ref = i.envelope ? envelopePolicy(i.envelope) : undefined;
            return ref && ref.tenant === req.tenant ? ref.policyId : undefined;
          }),
        );
        const list = items(req.items).map((i) => ({ envelope: i.envelope ?? EMPTY, context: i.context ?? {} }));
        const out = await deps.batches.decrypt({
          tenant: c.tenant,
          purpose: c.purpose,
          requestId: c.requestId,
          ...request(c),
          signal,
          items: list,
        });
        return {
          results: results(out, ctx, (v) => ({
            plaintext: v.plaintext,
            policyId: v.policyId,
            keyVersion: v.keyVersion,
          })),
        };
      },
    ),
  };
}
