// Original file: proto/unwrapd/v1/crypto.proto

import type { EncryptBatchResult as _unwrapd_v1_EncryptBatchResult, EncryptBatchResult__Output as _unwrapd_v1_EncryptBatchResult__Output } from '../../unwrapd/v1/EncryptBatchResult.js';

export interface EncryptBatchResponse {
  'results'?: (_unwrapd_v1_EncryptBatchResult)[];
}

export interface EncryptBatchResponse__Output {
  'results': (_unwrapd_v1_EncryptBatchResult__Output)[];
}
