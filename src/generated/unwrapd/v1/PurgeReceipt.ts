// Original file: proto/unwrapd/v1/admin.proto

import type { KeyDestruction as _unwrapd_v1_KeyDestruction, KeyDestruction__Output as _unwrapd_v1_KeyDestruction__Output } from '../../unwrapd/v1/KeyDestruction.js';

export interface PurgeReceipt {
  'tenant'?: (string);
  'id'?: (string);
  'purgedAt'?: (string);
  'versionsDestroyed'?: (number);
  'copiesDestroyed'?: (number);
  'forced'?: (boolean);
  'auditRecordHash'?: (string);
  'keyDestructions'?: (_unwrapd_v1_KeyDestruction)[];
}

export interface PurgeReceipt__Output {
  'tenant': (string);
  'id': (string);
  'purgedAt': (string);
  'versionsDestroyed': (number);
  'copiesDestroyed': (number);
  'forced': (boolean);
  'auditRecordHash': (string);
  'keyDestructions': (_unwrapd_v1_KeyDestruction__Output)[];
}
