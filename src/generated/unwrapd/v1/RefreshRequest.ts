// Original file: proto/unwrapd/v1/admin.proto


export interface RefreshRequest {
  'tenant'?: (string);
  'id'?: (string);
  'requestId'?: (string);
  'recovery'?: (boolean);
  'reason'?: (string);
}

export interface RefreshRequest__Output {
  'tenant': (string);
  'id': (string);
  'requestId': (string);
  'recovery': (boolean);
  'reason': (string);
}
