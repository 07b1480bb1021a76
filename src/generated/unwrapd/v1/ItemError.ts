// Original file: proto/unwrapd/v1/crypto.proto

import type { Status as _google_rpc_Status, Status__Output as _google_rpc_Status__Output } from '../../google/rpc/Status.js';

export interface ItemError {
  'code'?: (number);
  'message'?: (string);
  'status'?: (_google_rpc_Status | null);
}

export interface ItemError__Output {
  'code': (number);
  'message': (string);
  'status': (_google_rpc_Status__Output | null);
}
