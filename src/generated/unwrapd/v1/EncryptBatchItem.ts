// Original file: proto/unwrapd/v1/crypto.proto


export interface EncryptBatchItem {
  'plaintext'?: (Buffer | Uint8Array | string);
  'context'?: ({[key: string]: string});
}

export interface EncryptBatchItem__Output {
  'plaintext': (Buffer);
  'context': ({[key: string]: string});
}
