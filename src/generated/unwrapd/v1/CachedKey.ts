// Original file: proto/unwrapd/v1/admin.proto


export interface CachedKey {
  'tenant'?: (string);
  'policyId'?: (string);
  'version'?: (number);
  'keyId'?: (string);
  'loadedAt'?: (string);
  'expiresAt'?: (string);
  'sourceRole'?: (string);
}

export interface CachedKey__Output {
  'tenant': (string);
  'policyId': (string);
  'version': (number);
  'keyId': (string);
  'loadedAt': (string);
  'expiresAt': (string);
  'sourceRole': (string);
}
