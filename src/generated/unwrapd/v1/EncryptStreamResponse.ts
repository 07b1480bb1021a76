// Original file: proto/unwrapd/v1/crypto.proto


export interface EncryptStreamResponse {
  'data'?: (Buffer | Uint8Array | string);
  'keyVersion'?: (number);
}

export interface EncryptStreamResponse__Output {
  'data': (Buffer);
  'keyVersion': (number);
}
