// Original file: proto/unwrapd/v1/admin.proto

import type { PolicyMode as _unwrapd_v1_PolicyMode, PolicyMode__Output as _unwrapd_v1_PolicyMode__Output } from '../../unwrapd/v1/PolicyMode.js';

export interface CreatePolicyRequest {
  'tenant'?: (string);
  'id'?: (string);
  'name'?: (string);
  'mode'?: (_unwrapd_v1_PolicyMode);
  'geo'?: (string);
  'customerKeyA'?: (string);
  'customerKeyB'?: (string);
  'availabilityKey'?: (string);
  'requestId'?: (string);
}

export interface CreatePolicyRequest__Output {
  'tenant': (string);
  'id': (string);
  'name': (string);
  'mode': (_unwrapd_v1_PolicyMode__Output);
  'geo': (string);
  'customerKeyA': (string);
  'customerKeyB': (string);
  'availabilityKey': (string);
  'requestId': (string);
}
