// Original file: proto/unwrapd/v1/admin.proto


export interface GetPolicyRequest {
  'tenant'?: (string);
  'id'?: (string);
}

export interface GetPolicyRequest__Output {
  'tenant': (string);
  'id': (string);
}
