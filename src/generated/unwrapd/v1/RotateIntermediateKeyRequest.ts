// Original file: proto/unwrapd/v1/admin.proto


export interface RotateIntermediateKeyRequest {
  'tenant'?: (string);
  'id'?: (string);
  'minDecryptVersion'?: (number);
  'requestId'?: (string);
}

export interface RotateIntermediateKeyRequest__Output {
  'tenant': (string);
  'id': (string);
  'minDecryptVersion': (number);
  'requestId': (string);
}
