// Original file: proto/unwrapd/v1/admin.proto


export interface KeyReference {
  'uri'?: (string);
  'role'?: (string);
}

export interface KeyReference__Output {
  'uri': (string);
  'role': (string);
}
