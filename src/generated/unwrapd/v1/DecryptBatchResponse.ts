// Original file: proto/unwrapd/v1/crypto.proto

import type { DecryptBatchResult as _unwrapd_v1_DecryptBatchResult, DecryptBatchResult__Output as _unwrapd_v1_DecryptBatchResult__Output } from '../../unwrapd/v1/DecryptBatchResult.js';

export interface DecryptBatchResponse {
  'results'?: (_unwrapd_v1_DecryptBatchResult)[];
}

export interface DecryptBatchResponse__Output {
  'results': (_unwrapd_v1_DecryptBatchResult__Output)[];
}
