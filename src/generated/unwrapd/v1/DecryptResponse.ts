// Original file: proto/unwrapd/v1/crypto.proto


export interface DecryptResponse {
  'plaintext'?: (Buffer | Uint8Array | string);
  'policyId'?: (string);
  'keyVersion'?: (number);
}

export interface DecryptResponse__Output {
  'plaintext': (Buffer);
  'policyId': (string);
  'keyVersion': (number);
}
