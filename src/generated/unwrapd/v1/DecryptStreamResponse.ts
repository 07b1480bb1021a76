// Original file: proto/unwrapd/v1/crypto.proto


export interface DecryptStreamResponse {
  'plaintext'?: (Buffer | Uint8Array | string);
  'policyId'?: (string);
  'keyVersion'?: (number);
}

export interface DecryptStreamResponse__Output {
  'plaintext': (Buffer);
  'policyId': (string);
  'keyVersion': (number);
}
