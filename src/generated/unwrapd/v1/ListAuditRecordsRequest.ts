// Original file: proto/unwrapd/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface ListAuditRecordsRequest {
  'tenant'?: (string);
  'policyId'?: (string);
  'types'?: (string)[];
  'since'?: (string);
  'until'?: (string);
  'fromSequence'?: (number | string | Long);
  'pageSize'?: (number);
}

export interface ListAuditRecordsRequest__Output {
  'tenant': (string);
  'policyId': (string);
  'types': (string)[];
  'since': (string);
  'until': (string);
  'fromSequence': (string);
  'pageSize': (number);
}
