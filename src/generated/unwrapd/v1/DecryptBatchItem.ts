// Original file: proto/unwrapd/v1/crypto.proto


export interface DecryptBatchItem {
  'envelope'?: (Buffer | Uint8Array | string);
  'context'?: ({[key: string]: string});
}

export interface DecryptBatchItem__Output {
  'envelope': (Buffer);
  'context': ({[key: string]: string});
}
