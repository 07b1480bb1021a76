// Original file: proto/unwrapd/v1/admin.proto


export interface ListPoliciesRequest {
  'tenant'?: (string);
}

export interface ListPoliciesRequest__Output {
  'tenant': (string);
}
