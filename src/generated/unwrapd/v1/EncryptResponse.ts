// Original file: proto/unwrapd/v1/crypto.proto


export interface EncryptResponse {
  'envelope'?: (Buffer | Uint8Array | string);
  'keyVersion'?: (number);
}

export interface EncryptResponse__Output {
  'envelope': (Buffer);
  'keyVersion': (number);
}
