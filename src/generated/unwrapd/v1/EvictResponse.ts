// Original file: proto/unwrapd/v1/admin.proto


export interface EvictResponse {
  'evicted'?: (number);
}

export interface EvictResponse__Output {
  'evicted': (number);
}
