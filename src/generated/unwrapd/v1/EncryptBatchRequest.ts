// Original file: proto/unwrapd/v1/crypto.proto

import type { EncryptBatchItem as _unwrapd_v1_EncryptBatchItem, EncryptBatchItem__Output as _unwrapd_v1_EncryptBatchItem__Output } from '../../unwrapd/v1/EncryptBatchItem.js';
import type { Purpose as _unwrapd_v1_Purpose, Purpose__Output as _unwrapd_v1_Purpose__Output } from '../../unwrapd/v1/Purpose.js';

export interface EncryptBatchRequest {
  'tenant'?: (string);
  'policyId'?: (string);
  'items'?: (_unwrapd_v1_EncryptBatchItem)[];
  'purpose'?: (_unwrapd_v1_Purpose);
  'requestId'?: (string);
}

export interface EncryptBatchRequest__Output {
  'tenant': (string);
  'policyId': (string);
  'items': (_unwrapd_v1_EncryptBatchItem__Output)[];
  'purpose': (_unwrapd_v1_Purpose__Output);
  'requestId': (string);
}
