import type { BatchService } from '../core/batch-service.js';
import type { CryptoService } from '../core/crypto-service.js';
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
import { unaryCryptoInput, type CallerChecks, type UnaryCryptoInput } from './crypto-caller.js';
import { envelopePolicy } from './envelope-policy.js';
import { requireBytes, requireId } from './request-fields.js';
import { streamHandlers } from './stream-handlers.js';
import type { StreamLimits } from './stream-limits.js';
import { lazySignalUnary } from './unary.js';

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
  /** The policy check of a policy-limited caller (a grant naming policies); undefined names are skipped. */
  const policy = (input: UnaryCryptoInput, ctx: RequestContext, policyId: string | undefined) => {
    if (policyId !== undefined) access.policy(input.caller, input.tenant, policyId, ctx.method);
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
    Encrypt: lazySignalUnary<EncryptRequest__Output, EncryptResponse>(
      'Encrypt',
      log,
      async (req, signal, call, ctx) => {
        const input = unaryCryptoInput(deps, ctx, req, signal, call);
        if (input.caller.policies && req.policyId) policy(input, ctx, requireId(req.policyId, 'policy_id'));
        input.policyId = requireId(req.policyId, 'policy_id');
        input.plaintext = requireBytes(req.plaintext, 'plaintext');
        const out = await crypto.encrypt(input);
        return { envelope: out.envelope, keyVersion: out.keyVersion };
      },
    ),
    Decrypt: lazySignalUnary<DecryptRequest__Output, DecryptResponse>(
      'Decrypt',
      log,
      async (req, signal, call, ctx) => {
        const input = unaryCryptoInput(deps, ctx, req, signal, call);
        if (input.caller.policies) policy(input, ctx, ofEnvelope(input.tenant, req.envelope));
        input.envelope = envelopeField(req.envelope);
        const out = await crypto.decrypt(input);
        return { plaintext: out.plaintext, policyId: out.policyId, keyVersion: out.keyVersion };
      },
    ),
    Rewrap: lazySignalUnary<RewrapRequest__Output, RewrapResponse>('Rewrap', log, async (req, signal, call, ctx) => {
      const input = unaryCryptoInput(deps, ctx, req, signal, call);
      if (input.caller.policies) {
        policy(input, ctx, ofEnvelope(input.tenant, req.envelope));
        if (req.targetPolicyId) policy(input, ctx, requireId(req.targetPolicyId, 'target_policy_id'));
      }
      input.targetPolicyId = req.targetPolicyId ? requireId(req.targetPolicyId, 'target_policy_id') : '';
      input.envelope = envelopeField(req.envelope);
      const out = await crypto.rewrap(input);
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
