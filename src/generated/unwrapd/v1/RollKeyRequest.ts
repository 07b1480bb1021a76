// Original file: proto/unwrapd/v1/admin.proto


export interface RollKeyRequest {
  'tenant'?: (string);
  'id'?: (string);
  'role'?: (string);
  'newKeyUri'?: (string);
  'requestId'?: (string);
  'recovery'?: (boolean);
  'reason'?: (string);
  'newAvailabilityKey'?: (boolean);
}

export interface RollKeyRequest__Output {
  'tenant': (string);
  'id': (string);
  'role': (string);
  'newKeyUri': (string);
  'requestId': (string);
  'recovery': (boolean);
  'reason': (string);
  'newAvailabilityKey': (boolean);
}
