// Original file: proto/unwrapd/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface TenantCount {
  'tenant'?: (string);
  'count'?: (number | string | Long);
}

export interface TenantCount__Output {
  'tenant': (string);
  'count': (string);
}
