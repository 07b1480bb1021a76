// Original file: proto/unwrapd/v1/crypto.proto


export interface DecryptStreamResponse {
  'plaintext'?: (Buffer | Uint8Array | string);
}

export interface DecryptStreamResponse__Output {
  'plaintext': (Buffer);
}
