// Original file: proto/unwrapd/v1/admin.proto


export interface RevokeRequest {
  'tenant'?: (string);
  'id'?: (string);
  'reason'?: (string);
  'requestId'?: (string);
}

export interface RevokeRequest__Output {
  'tenant': (string);
  'id': (string);
  'reason': (string);
  'requestId': (string);
}
