// Original file: proto/unwrapd/v1/crypto.proto

import type { Purpose as _unwrapd_v1_Purpose, Purpose__Output as _unwrapd_v1_Purpose__Output } from '../../unwrapd/v1/Purpose.js';

export interface EncryptRequest {
  'tenant'?: (string);
  'policyId'?: (string);
  'plaintext'?: (Buffer | Uint8Array | string);
  'context'?: ({[key: string]: string});
  'purpose'?: (_unwrapd_v1_Purpose);
  'requestId'?: (string);
}

export interface EncryptRequest__Output {
  'tenant': (string);
  'policyId': (string);
  'plaintext': (Buffer);
  'context': ({[key: string]: string});
  'purpose': (_unwrapd_v1_Purpose__Output);
  'requestId': (string);
}
