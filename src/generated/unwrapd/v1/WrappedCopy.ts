// Original file: proto/unwrapd/v1/admin.proto


export interface WrappedCopy {
  'keyUri'?: (string);
  'role'?: (string);
  'algorithm'?: (string);
  'fingerprint'?: (string);
}

export interface WrappedCopy__Output {
  'keyUri': (string);
  'role': (string);
  'algorithm': (string);
  'fingerprint': (string);
}
