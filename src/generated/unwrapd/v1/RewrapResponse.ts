// Original file: proto/unwrapd/v1/crypto.proto


export interface RewrapResponse {
  'envelope'?: (Buffer | Uint8Array | string);
  'policyId'?: (string);
  'keyVersion'?: (number);
  'replacedHeaderBytes'?: (number);
}

export interface RewrapResponse__Output {
  'envelope': (Buffer);
  'policyId': (string);
  'keyVersion': (number);
  'replacedHeaderBytes': (number);
}
