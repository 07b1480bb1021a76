// Original file: proto/unwrapd/v1/admin.proto

import type { Policy as _unwrapd_v1_Policy, Policy__Output as _unwrapd_v1_Policy__Output } from '../../unwrapd/v1/Policy.js';

export interface ListPoliciesResponse {
  'policies'?: (_unwrapd_v1_Policy)[];
}

export interface ListPoliciesResponse__Output {
  'policies': (_unwrapd_v1_Policy__Output)[];
}
