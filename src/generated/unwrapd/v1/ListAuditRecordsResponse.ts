// Original file: proto/unwrapd/v1/admin.proto

import type { AuditRecord as _unwrapd_v1_AuditRecord, AuditRecord__Output as _unwrapd_v1_AuditRecord__Output } from '../../unwrapd/v1/AuditRecord.js';
import type { Long } from '@grpc/proto-loader';

export interface ListAuditRecordsResponse {
  'records'?: (_unwrapd_v1_AuditRecord)[];
  'nextSequence'?: (number | string | Long);
}

export interface ListAuditRecordsResponse__Output {
  'records': (_unwrapd_v1_AuditRecord__Output)[];
  'nextSequence': (string);
}
