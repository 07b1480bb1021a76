// Original file: proto/unwrapd/v1/crypto.proto

import type { StreamHeader as _unwrapd_v1_StreamHeader, StreamHeader__Output as _unwrapd_v1_StreamHeader__Output } from '../../unwrapd/v1/StreamHeader.js';

export interface DecryptStreamRequest {
  'header'?: (_unwrapd_v1_StreamHeader | null);
  'chunk'?: (Buffer | Uint8Array | string);
  'message'?: "header"|"chunk";
}

export interface DecryptStreamRequest__Output {
  'header'?: (_unwrapd_v1_StreamHeader__Output | null);
  'chunk'?: (Buffer);
  'message'?: "header"|"chunk";
}
