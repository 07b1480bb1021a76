// Original file: proto/unwrapd/v1/crypto.proto

import type { DecryptResponse as _unwrapd_v1_DecryptResponse, DecryptResponse__Output as _unwrapd_v1_DecryptResponse__Output } from '../../unwrapd/v1/DecryptResponse.js';
import type { ItemError as _unwrapd_v1_ItemError, ItemError__Output as _unwrapd_v1_ItemError__Output } from '../../unwrapd/v1/ItemError.js';

export interface DecryptBatchResult {
  'ok'?: (_unwrapd_v1_DecryptResponse | null);
  'error'?: (_unwrapd_v1_ItemError | null);
  'result'?: "ok"|"error";
}

export interface DecryptBatchResult__Output {
  'ok'?: (_unwrapd_v1_DecryptResponse__Output | null);
  'error'?: (_unwrapd_v1_ItemError__Output | null);
  'result'?: "ok"|"error";
}
