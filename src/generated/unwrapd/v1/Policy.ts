// Original file: proto/unwrapd/v1/admin.proto

import type { PolicyMode as _unwrapd_v1_PolicyMode, PolicyMode__Output as _unwrapd_v1_PolicyMode__Output } from '../../unwrapd/v1/PolicyMode.js';
import type { PolicyState as _unwrapd_v1_PolicyState, PolicyState__Output as _unwrapd_v1_PolicyState__Output } from '../../unwrapd/v1/PolicyState.js';
import type { KeyReference as _unwrapd_v1_KeyReference, KeyReference__Output as _unwrapd_v1_KeyReference__Output } from '../../unwrapd/v1/KeyReference.js';
import type { KeyVersion as _unwrapd_v1_KeyVersion, KeyVersion__Output as _unwrapd_v1_KeyVersion__Output } from '../../unwrapd/v1/KeyVersion.js';
import type { RollProgress as _unwrapd_v1_RollProgress, RollProgress__Output as _unwrapd_v1_RollProgress__Output } from '../../unwrapd/v1/RollProgress.js';
import type { Long } from '@grpc/proto-loader';

export interface Policy {
  'tenant'?: (string);
  'id'?: (string);
  'name'?: (string);
  'mode'?: (_unwrapd_v1_PolicyMode);
  'geo'?: (string);
  'state'?: (_unwrapd_v1_PolicyState);
  'customerKeys'?: (_unwrapd_v1_KeyReference)[];
  'availabilityKey'?: (_unwrapd_v1_KeyReference | null);
  'activeVersion'?: (number);
  'minDecryptVersion'?: (number);
  'versions'?: (_unwrapd_v1_KeyVersion)[];
  'revision'?: (number | string | Long);
  'createdAt'?: (string);
  'updatedAt'?: (string);
  'rollProgress'?: (_unwrapd_v1_RollProgress | null);
  'stateReason'?: (string);
}

export interface Policy__Output {
  'tenant': (string);
  'id': (string);
  'name': (string);
  'mode': (_unwrapd_v1_PolicyMode__Output);
  'geo': (string);
  'state': (_unwrapd_v1_PolicyState__Output);
  'customerKeys': (_unwrapd_v1_KeyReference__Output)[];
  'availabilityKey': (_unwrapd_v1_KeyReference__Output | null);
  'activeVersion': (number);
  'minDecryptVersion': (number);
  'versions': (_unwrapd_v1_KeyVersion__Output)[];
  'revision': (string);
  'createdAt': (string);
  'updatedAt': (string);
  'rollProgress': (_unwrapd_v1_RollProgress__Output | null);
  'stateReason': (string);
}
