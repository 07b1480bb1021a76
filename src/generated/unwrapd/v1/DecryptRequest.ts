// Original file: proto/unwrapd/v1/crypto.proto

import type { Purpose as _unwrapd_v1_Purpose, Purpose__Output as _unwrapd_v1_Purpose__Output } from '../../unwrapd/v1/Purpose.js';

export interface DecryptRequest {
  'tenant'?: (string);
  'envelope'?: (Buffer | Uint8Array | string);
  'context'?: ({[key: string]: string});
  'purpose'?: (_unwrapd_v1_Purpose);
  'requestId'?: (string);
}

export interface DecryptRequest__Output {
  'tenant': (string);
  'envelope': (Buffer);
  'context': ({[key: string]: string});
  'purpose': (_unwrapd_v1_Purpose__Output);
  'requestId': (string);
}
