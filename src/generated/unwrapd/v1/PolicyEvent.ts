// Original file: proto/unwrapd/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface PolicyEvent {
  'sequence'?: (number | string | Long);
  'type'?: (string);
  'tenant'?: (string);
  'policyId'?: (string);
  'at'?: (string);
  'revision'?: (number | string | Long);
}

export interface PolicyEvent__Output {
  'sequence': (string);
  'type': (string);
  'tenant': (string);
  'policyId': (string);
  'at': (string);
  'revision': (string);
}
