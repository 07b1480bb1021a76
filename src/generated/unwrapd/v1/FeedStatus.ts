// Original file: proto/unwrapd/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface FeedStatus {
  'source'?: (string);
  'state'?: (string);
  'lastSequence'?: (number | string | Long);
  'lastEventAt'?: (string);
}

export interface FeedStatus__Output {
  'source': (string);
  'state': (string);
  'lastSequence': (string);
  'lastEventAt': (string);
}
