import * as grpc from '@grpc/grpc-js';
import type { CryptoService } from '../core/crypto-service.js';
import type { CryptoHandlers } from '../generated/unwrapd/v1/Crypto.js';
import type { DecryptRequest__Output } from '../generated/unwrapd/v1/DecryptRequest.js';
import type { DecryptResponse } from '../generated/unwrapd/v1/DecryptResponse.js';
import type { EncryptRequest__Output } from '../generated/unwrapd/v1/EncryptRequest.js';
import type { EncryptResponse } from '../generated/unwrapd/v1/EncryptResponse.js';
import { invalidArgument } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { callerFields, requireBytes, requireId } from './request-fields.js';
import { unary, unimplementedStream, unimplementedUnary } from './unary.js';

/** Thin handlers: validate, call the core, return. */
export function cryptoHandlers(crypto: CryptoService, log: Logger): CryptoHandlers {
  return {
    Encrypt: unary<EncryptRequest__Output, EncryptResponse>('Encrypt', log, async (req, signal) => {
      const caller = callerFields(req, signal);
      const out = await crypto.encrypt({ ...caller, policyId: requireId(req.policyId, 'policy_id'), plaintext: requireBytes(req.plaintext, 'plaintext') });
      return { envelope: out.envelope, keyVersion: out.keyVersion };
    }),
    Decrypt: unary<DecryptRequest__Output, DecryptResponse>('Decrypt', log, async (req, signal) => {
      const caller = callerFields(req, signal);
      const envelope = requireBytes(req.envelope, 'envelope');
      if (envelope.length === 0) throw invalidArgument('envelope is required');
      const out = await crypto.decrypt({ ...caller, envelope });
      return { plaintext: out.plaintext, policyId: out.policyId, keyVersion: out.keyVersion };
    }),
    EncryptBatch: unimplementedUnary('EncryptBatch'),
    DecryptBatch: unimplementedUnary('DecryptBatch'),
    EncryptStream: unimplementedStream('EncryptStream'),
    DecryptStream: unimplementedStream('DecryptStream'),
    Rewrap: unimplementedUnary('Rewrap'),
  };
}
