// Original file: proto/unwrapd/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface AuditRecord {
  'sequence'?: (number | string | Long);
  'at'?: (string);
  'type'?: (string);
  'tenant'?: (string);
  'policyId'?: (string);
  'keyVersion'?: (number);
  'requestId'?: (string);
  'reason'?: (string);
  'actor'?: (string);
  'details'?: ({[key: string]: string});
  'prevHash'?: (string);
  'hash'?: (string);
  'recordJson'?: (string);
}

export interface AuditRecord__Output {
  'sequence': (string);
  'at': (string);
  'type': (string);
  'tenant': (string);
  'policyId': (string);
  'keyVersion': (number);
  'requestId': (string);
  'reason': (string);
  'actor': (string);
  'details': ({[key: string]: string});
  'prevHash': (string);
  'hash': (string);
  'recordJson': (string);
}
