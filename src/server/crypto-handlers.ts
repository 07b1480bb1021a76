import type { BatchService } from '../core/batch-service.js';
import type { CallerRequest, CryptoService } from '../core/crypto-service.js';
import type { StreamService } from '../core/stream-service.js';
import { invalidArgument } from '../errors.js';
import type { CryptoHandlers } from '../generated/unwrapd/v1/Crypto.js';
import type { DecryptRequest__Output } from '../generated/unwrapd/v1/DecryptRequest.js';
import type { DecryptResponse } from '../generated/unwrapd/v1/DecryptResponse.js';
import type { EncryptRequest__Output } from '../generated/unwrapd/v1/EncryptRequest.js';
import type { EncryptResponse } from '../generated/unwrapd/v1/EncryptResponse.js';
import type { RewrapRequest__Output } from '../generated/unwrapd/v1/RewrapRequest.js';
import type { RewrapResponse } from '../generated/unwrapd/v1/RewrapResponse.js';
import type { Logger } from '../log/logger.js';
import type { RequestContext } from '../log/request-context.js';
import { batchHandlers } from './batch-handlers.js';
import type { CallerResolver } from './caller-resolver.js';
import { cryptoCaller, type CallerChecks } from './crypto-caller.js';
import { envelopePolicy } from './envelope-policy.js';
import { type callerFields, requireBytes, requireId } from './request-fields.js';
import { streamHandlers } from './stream-handlers.js';
import type { StreamLimits } from './stream-limits.js';
import { unary } from './unary.js';

export interface CryptoDeps extends CallerChecks {
  crypto: CryptoService;
  /** EncryptBatch / DecryptBatch (server/batch-handlers.ts). */
  batches: BatchService;
  /** EncryptStream / DecryptStream (server/stream-handlers.ts). */
  streams: StreamService;
  /** The streams' bounds (server/stream-limits.ts). */
  streamLimits: StreamLimits;
}

/**
 * Thin handlers: validate, check the caller (role for the purpose, the tenant, and the policies when the
 * caller's grant names policies: Encrypt's, the envelope's, Rewrap's target), call the core, return.
 */
export function cryptoHandlers(deps: CryptoDeps, log: Logger): CryptoHandlers {
  const { crypto, access } = deps;
  const caller = (
    ctx: RequestContext,
    req: Parameters<typeof callerFields>[0],
    signal: AbortSignal,
    call: Parameters<CallerResolver>[0],
    policies: (c: CallerRequest) => Array<string | undefined>,
  ): CallerRequest => {
    const { caller: who, ...c } = cryptoCaller(deps, ctx, req, signal, call);
    if (who.policies) for (const p of policies(c)) if (p !== undefined) access.policy(who, c.tenant, p, ctx.method);
    return c;
  };
  /** The policy an envelope names, for a policy-limited caller (a tenant mismatch fails generically later). */
  const ofEnvelope = (tenant: string, envelope: Buffer | undefined): string | undefined => {
    const ref = envelope ? envelopePolicy(envelope) : undefined;
    return ref && ref.tenant === tenant ? ref.policyId : undefined;
  };
  const envelopeField = (value: Buffer | undefined) => {
    const envelope = requireBytes(value, 'envelope');
    if (envelope.length === 0) throw invalidArgument('envelope is required');
    return envelope;
  };
  return {
    Encrypt: unary<EncryptRequest__Output, EncryptResponse>('Encrypt', log, async (req, signal, call, ctx) => {
      const c = caller(ctx, req, signal, call, () => [req.policyId ? requireId(req.policyId, 'policy_id') : undefined]);
      const out = await crypto.encrypt({
        ...c,
        policyId: requireId(req.policyId, 'policy_id'),
        plaintext: requireBytes(req.plaintext, 'plaintext'),
      });
      return { envelope: out.envelope, keyVersion: out.keyVersion };
    }),
    Decrypt: unary<DecryptRequest__Output, DecryptResponse>('Decrypt', log, async (req, signal, call, ctx) => {
      const c = caller(ctx, req, signal, call, (f) => [ofEnvelope(f.tenant, req.envelope)]);
      const out = await crypto.decrypt({ ...c, envelope: envelopeField(req.envelope) });
      return { plaintext: out.plaintext, policyId: out.policyId, keyVersion: out.keyVersion };
    }),
    Rewrap: unary<RewrapRequest__Output, RewrapResponse>('Rewrap', log, async (req, signal, call, ctx) => {
      const c = caller(ctx, req, signal, call, (f) => [
        ofEnvelope(f.tenant, req.envelope),
        req.targetPolicyId ? requireId(req.targetPolicyId, 'target_policy_id') : undefined,
      ]);
      const targetPolicyId = req.targetPolicyId ? requireId(req.targetPolicyId, 'target_policy_id') : '';
      const out = await crypto.rewrap({ ...c, envelope: envelopeField(req.envelope), targetPolicyId });
      return {
        envelope: out.envelope,
        policyId: out.policyId,
        keyVersion: out.keyVersion,
        replacedHeaderBytes: out.replacedHeaderBytes,
      };
    }),
    ...batchHandlers(deps, log),
    ...streamHandlers(deps, log),
  };
}
