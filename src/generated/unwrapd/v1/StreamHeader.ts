// Original file: proto/unwrapd/v1/crypto.proto

import type { Purpose as _unwrapd_v1_Purpose, Purpose__Output as _unwrapd_v1_Purpose__Output } from '../../unwrapd/v1/Purpose.js';

export interface StreamHeader {
  'tenant'?: (string);
  'policyId'?: (string);
  'context'?: ({[key: string]: string});
  'purpose'?: (_unwrapd_v1_Purpose);
  'requestId'?: (string);
}

export interface StreamHeader__Output {
  'tenant': (string);
  'policyId': (string);
  'context': ({[key: string]: string});
  'purpose': (_unwrapd_v1_Purpose__Output);
  'requestId': (string);
}
