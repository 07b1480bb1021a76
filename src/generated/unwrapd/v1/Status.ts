// Original file: proto/unwrapd/v1/admin.proto

import type { CachedKey as _unwrapd_v1_CachedKey, CachedKey__Output as _unwrapd_v1_CachedKey__Output } from '../../unwrapd/v1/CachedKey.js';
import type { FeedStatus as _unwrapd_v1_FeedStatus, FeedStatus__Output as _unwrapd_v1_FeedStatus__Output } from '../../unwrapd/v1/FeedStatus.js';
import type { TenantCount as _unwrapd_v1_TenantCount, TenantCount__Output as _unwrapd_v1_TenantCount__Output } from '../../unwrapd/v1/TenantCount.js';
import type { Long } from '@grpc/proto-loader';

export interface Status {
  'version'?: (string);
  'startedAt'?: (string);
  'listen'?: (string);
  'cacheEntries'?: (number);
  'cacheMaxEntries'?: (number);
  'cacheHits'?: (number | string | Long);
  'cacheMisses'?: (number | string | Long);
  'providerUnwraps'?: (number | string | Long);
  'availabilityKeyUses'?: (number | string | Long);
  'cachedKeys'?: (_unwrapd_v1_CachedKey)[];
  'feeds'?: (_unwrapd_v1_FeedStatus)[];
  'registry'?: (string);
  'providers'?: (string)[];
  'serving'?: (boolean);
  'refreshFailures'?: (number | string | Long);
  'auditRecords'?: (number | string | Long);
  'auditHeadHash'?: (string);
  'cacheBypassed'?: (boolean);
  'adminListen'?: (string);
  'accessDenied'?: (number | string | Long);
  'availabilityKeyUsesByTenant'?: (_unwrapd_v1_TenantCount)[];
}

export interface Status__Output {
  'version': (string);
  'startedAt': (string);
  'listen': (string);
  'cacheEntries': (number);
  'cacheMaxEntries': (number);
  'cacheHits': (string);
  'cacheMisses': (string);
  'providerUnwraps': (string);
  'availabilityKeyUses': (string);
  'cachedKeys': (_unwrapd_v1_CachedKey__Output)[];
  'feeds': (_unwrapd_v1_FeedStatus__Output)[];
  'registry': (string);
  'providers': (string)[];
  'serving': (boolean);
  'refreshFailures': (string);
  'auditRecords': (string);
  'auditHeadHash': (string);
  'cacheBypassed': (boolean);
  'adminListen': (string);
  'accessDenied': (string);
  'availabilityKeyUsesByTenant': (_unwrapd_v1_TenantCount__Output)[];
}
