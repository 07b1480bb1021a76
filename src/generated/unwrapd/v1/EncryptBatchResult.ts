// Original file: proto/unwrapd/v1/crypto.proto

import type { EncryptResponse as _unwrapd_v1_EncryptResponse, EncryptResponse__Output as _unwrapd_v1_EncryptResponse__Output } from '../../unwrapd/v1/EncryptResponse.js';
import type { ItemError as _unwrapd_v1_ItemError, ItemError__Output as _unwrapd_v1_ItemError__Output } from '../../unwrapd/v1/ItemError.js';

export interface EncryptBatchResult {
  'ok'?: (_unwrapd_v1_EncryptResponse | null);
  'error'?: (_unwrapd_v1_ItemError | null);
  'result'?: "ok"|"error";
}

export interface EncryptBatchResult__Output {
  'ok'?: (_unwrapd_v1_EncryptResponse__Output | null);
  'error'?: (_unwrapd_v1_ItemError__Output | null);
  'result'?: "ok"|"error";
}
