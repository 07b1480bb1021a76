// Original file: proto/unwrapd/v1/admin.proto


export interface PurgeReceipt {
  'tenant'?: (string);
  'id'?: (string);
  'purgedAt'?: (string);
  'versionsDestroyed'?: (number);
  'copiesDestroyed'?: (number);
  'forced'?: (boolean);
  'auditRecordHash'?: (string);
}

export interface PurgeReceipt__Output {
  'tenant': (string);
  'id': (string);
  'purgedAt': (string);
  'versionsDestroyed': (number);
  'copiesDestroyed': (number);
  'forced': (boolean);
  'auditRecordHash': (string);
}
