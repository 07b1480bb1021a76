// Original file: proto/unwrapd/v1/crypto.proto

import type { DecryptBatchItem as _unwrapd_v1_DecryptBatchItem, DecryptBatchItem__Output as _unwrapd_v1_DecryptBatchItem__Output } from '../../unwrapd/v1/DecryptBatchItem.js';
import type { Purpose as _unwrapd_v1_Purpose, Purpose__Output as _unwrapd_v1_Purpose__Output } from '../../unwrapd/v1/Purpose.js';

export interface DecryptBatchRequest {
  'tenant'?: (string);
  'items'?: (_unwrapd_v1_DecryptBatchItem)[];
  'purpose'?: (_unwrapd_v1_Purpose);
  'requestId'?: (string);
}

export interface DecryptBatchRequest__Output {
  'tenant': (string);
  'items': (_unwrapd_v1_DecryptBatchItem__Output)[];
  'purpose': (_unwrapd_v1_Purpose__Output);
  'requestId': (string);
}
