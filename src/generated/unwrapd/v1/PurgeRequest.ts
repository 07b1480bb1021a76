// Original file: proto/unwrapd/v1/admin.proto


export interface PurgeRequest {
  'tenant'?: (string);
  'id'?: (string);
  'force'?: (boolean);
  'reason'?: (string);
  'requestId'?: (string);
}

export interface PurgeRequest__Output {
  'tenant': (string);
  'id': (string);
  'force': (boolean);
  'reason': (string);
  'requestId': (string);
}
