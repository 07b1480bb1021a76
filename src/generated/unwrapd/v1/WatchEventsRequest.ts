// Original file: proto/unwrapd/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface WatchEventsRequest {
  'tenant'?: (string);
  'fromSequence'?: (number | string | Long);
}

export interface WatchEventsRequest__Output {
  'tenant': (string);
  'fromSequence': (string);
}
