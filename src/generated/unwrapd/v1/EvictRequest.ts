// Original file: proto/unwrapd/v1/admin.proto


export interface EvictRequest {
  'tenant'?: (string);
  'id'?: (string);
}

export interface EvictRequest__Output {
  'tenant': (string);
  'id': (string);
}
